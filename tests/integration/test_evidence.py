"""Reference and audit images through the real pipeline: stored, served per tenant, deleted per user."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.media import fetch_media
from devtools.stack import Stack
from evaluation.species import SPECIES, Draw, Studio
from liveness.cli import main
from processors.evidence import FRONTAL_YAW_DEG
from processors.landmarks import FaceAnalyzer, face_from_mesh
from producers.challenge_service import ChallengePolicy, ChallengeService
from producers.decision_watcher import DecisionWatcher
from producers.evidence_reader import read_session_evidence
from producers.gateway.server import make_app
from producers.gateway.settings import GatewaySettings
from producers.gateway.tenants import TenantDirectory, key_digest, new_api_key, user_ref_digest
from producers.publisher import SessionPublisher, publish_recording
from producers.recording import RecordedSession, write_session
from schemas.events import Decision, Evidence, SessionStarted

pytestmark = pytest.mark.integration

ACME_KEY, GLOBEX_KEY = new_api_key(), new_api_key()
TENANTS = {
    "tenants": [
        {"id": "acme", "keys": [{"sha256": key_digest(ACME_KEY)}]},
        {"id": "globex", "keys": [{"sha256": key_digest(GLOBEX_KEY)}]},
    ]
}


class TenantService:
    """The challenge service as the gateway uses it for a tenant's backend: starts carry tenant and user."""

    def __init__(self, inner: ChallengeService, tenant: str, user_ref: str) -> None:
        self.inner, self.tenant, self.user_ref = inner, tenant, user_ref_digest(tenant, user_ref)

    def start(self, now_ms: int, challenge: object = None, session_id: str | None = None) -> SessionStarted:
        started = self.inner.start(now_ms, challenge=challenge, session_id=session_id)  # type: ignore[arg-type]
        return dataclasses.replace(started, tenant=self.tenant, user_ref=self.user_ref)


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    with FaceAnalyzer() as face_analyzer:
        yield face_analyzer


@pytest.fixture(scope="module")
def decided(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[RecordedSession, Decision]]:
    """A genuine session of acme's user-7 and a photo session of acme's user-8, decided by the pipeline."""
    studio = Studio.open(fetch_media(), analyzer)
    out = Path(tmp_path_factory.mktemp("sessions"))
    recordings = {}
    for species, user in (("genuine", "user-7"), ("photo_translated", "user-8")):
        draw = Draw(random.Random(100), np.random.default_rng(100), 0)
        draft = SPECIES[species](studio, draw)
        path = write_session(out / species, f"ev-{species}", draft.challenge, 0, draft.frames, draft.label())
        recordings[species] = (RecordedSession.load(path), user)

    async def run() -> dict[str, tuple[RecordedSession, Decision]]:
        service = ChallengeService(stack.keys)
        async with DecisionWatcher(stack.kafka) as watcher, SessionPublisher(stack.kafka) as publisher:
            starts = await asyncio.gather(
                *(
                    publish_recording(publisher, recording, TenantService(service, "acme", user))  # type: ignore[arg-type]
                    for recording, user in recordings.values()
                )
            )
            decisions = await watcher.wait_for({s.session_id for s in starts}, 180)
        return {
            species: (recording, decisions[start.session_id])
            for (species, (recording, _)), start in zip(recordings.items(), starts, strict=True)
        }

    return asyncio.run(run())


async def _reference(stack: Stack, session_id: str, key: str | None, wait_s: float = 0) -> tuple[int, bytes]:
    settings = GatewaySettings(tenants=TenantDirectory.from_dict(TENANTS))
    client = TestClient(TestServer(make_app(stack.kafka, stack.keys, ChallengePolicy(), settings)))
    await client.start_server()
    try:
        async with asyncio.timeout(60):
            while (await client.get("/readyz")).status != 200:
                await asyncio.sleep(0.1)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            response = await client.get(f"/sessions/{session_id}/reference", headers=headers)
            body = await response.read()
            if response.status == 200 or loop.time() >= deadline:
                return response.status, body
            await asyncio.sleep(0.5)
    finally:
        await client.close()


def test_evidence_reference_of_passed_session_is_a_frontal_framed_face(
    stack: Stack, decided: dict[str, tuple[RecordedSession, Decision]], analyzer: FaceAnalyzer
) -> None:
    recording, decision = decided["genuine"]
    assert decision.outcome == "pass", decision
    assert decision.evidence is not None and decision.evidence.reference == f"{decision.session_id}/reference"
    status, jpeg = asyncio.run(_reference(stack, decision.session_id, ACME_KEY, wait_s=30))
    assert status == 200
    image = __import__("cv2").imdecode(np.frombuffer(jpeg, np.uint8), 1)
    meshes = analyzer.mesh_points(image)
    assert len(meshes) == 1
    face = face_from_mesh(meshes[0])
    assert abs(face.yaw_deg) <= FRONTAL_YAW_DEG
    assert recording.challenge.area.contains_box(face.box)
    stored = asyncio.run(read_session_evidence(stack.kafka, decision.session_id))
    assert set(decision.evidence.audit) <= set(stored)
    assert stored[decision.evidence.reference].jpeg == jpeg


def test_evidence_reference_is_refused_to_other_tenants_and_without_key(
    stack: Stack, decided: dict[str, tuple[RecordedSession, Decision]]
) -> None:
    session_id = decided["genuine"][1].session_id
    assert asyncio.run(_reference(stack, session_id, GLOBEX_KEY))[0] == 404
    assert asyncio.run(_reference(stack, session_id, None))[0] == 401


def test_evidence_cli_writes_images_and_delete_removes_only_that_users_evidence(
    stack: Stack, decided: dict[str, tuple[RecordedSession, Decision]], tmp_path: Path
) -> None:
    genuine, photo = decided["genuine"][1], decided["photo_translated"][1]
    flags = ["--bootstrap", stack.kafka.bootstrap, "--topic-prefix", stack.kafka.topic_prefix]
    assert asyncio.run(_reference(stack, genuine.session_id, ACME_KEY, wait_s=30))[0] == 200
    assert main(["evidence", genuine.session_id, "--out", str(tmp_path), *flags]) == 0
    assert (tmp_path / "reference.jpg").exists()
    assert photo.evidence is not None  # a failed session keeps audit images too
    assert main(["evidence", "delete", "--user-ref", "user-7", "--tenant", "acme", *flags]) == 0
    assert asyncio.run(read_session_evidence(stack.kafka, genuine.session_id)) == {}
    assert asyncio.run(_reference(stack, genuine.session_id, ACME_KEY))[0] == 404
    kept = asyncio.run(read_session_evidence(stack.kafka, photo.session_id))
    assert {Evidence.frame_id(photo.session_id, seq) for seq, _ in photo.evidence.frames} & set(kept)
