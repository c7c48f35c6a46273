"""Issue #12 on the real broker: tenant keys, isolation, attempt limits shared through Kafka, signatures.

Decisions here are written by the test in the verifier's place (signed with the verifier's own
signer), so each test is about the gateway's rules, not about the face pipeline; the whole
pipeline signs and verifies in ``test_pipeline_signs_decisions``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devtools.broker import free_ports
from liveness.topics_admin import create_topics
from producers.challenge_service import ChallengePolicy
from producers.gateway.attempts import AttemptPolicy
from producers.gateway.server import make_app
from producers.gateway.settings import GatewaySettings
from producers.gateway.tenants import TenantDirectory, key_digest, new_api_key
from runtime.settings import KafkaSettings
from schemas.codec import decode_session_event, encode
from schemas.events import Decision
from schemas.signatures import DecisionSigner, SignatureError, keys_from_jwks, public_jwk, verify_decision
from schemas.tokens import TokenKeys
from tests.integration.test_gateway import read_all

pytestmark = pytest.mark.integration

MAX_FAILED = 3
ACME_KEY, GLOBEX_KEY, ACME_OLD_KEY = new_api_key(), new_api_key(), new_api_key()
TENANTS = {
    "tenants": [
        {
            "id": "acme",
            "keys": [
                {"sha256": key_digest(ACME_KEY)},
                # rotated out: its overlap window ended a minute ago
                {"sha256": key_digest(ACME_OLD_KEY), "not_after_ms": int(time.time() * 1000) - 60_000},
            ],
            "cors_origins": ["https://onboarding.acme.example"],
        },
        {"id": "globex", "keys": [{"sha256": key_digest(GLOBEX_KEY)}]},
    ]
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Deployment:
    """One cluster: topics, token secret and the verifier's signing key, shared by every gateway."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.kafka = KafkaSettings(bootstrap=bootstrap, topic_prefix=prefix, partitions=2)
        self.keys = TokenKeys(secrets.token_hex(32).encode())
        self.signer = DecisionSigner(Ed25519PrivateKey.generate())
        self.attempts = AttemptPolicy(
            max_failed_per_user=MAX_FAILED, max_failed_per_address=1_000, window_s=600
        )

    def settings(self, demo_mode: bool = False) -> GatewaySettings:
        return GatewaySettings(
            tenants=TenantDirectory.from_dict(TENANTS),
            demo_mode=demo_mode,
            attempts=self.attempts,
            decision_public_keys=(self.signer.private_key.public_key(),),
        )

    def env(self) -> dict[str, str]:
        return {
            "LIVENESS_BOOTSTRAP": self.kafka.bootstrap,
            "LIVENESS_TOPIC_PREFIX": self.kafka.topic_prefix,
            "LIVENESS_PARTITIONS": str(self.kafka.partitions),
            "LIVENESS_TOKEN_SECRET": self.keys.current.decode(),
            "LIVENESS_TENANTS": orjson.dumps(TENANTS).decode(),
            "LIVENESS_MAX_FAILED_PER_USER": str(MAX_FAILED),
            "LIVENESS_MAX_FAILED_PER_ADDRESS": "1000",
            "LIVENESS_ATTEMPT_WINDOW_S": "600",
            "LIVENESS_DECISION_PUBLIC_KEYS": public_jwk(self.signer.private_key.public_key())["x"],
        }

    async def publish_decision(self, decision: Decision) -> None:
        """Write a decision as the verifier does: signed, keyed by session id."""
        producer = AIOKafkaProducer(**self.kafka.client_options(), acks="all")
        await producer.start()
        try:
            signed = self.signer.sign(decision)
            await producer.send_and_wait(
                self.kafka.topics.decisions, encode(signed), key=decision.session_id.encode()
            )
        finally:
            await producer.stop()


@pytest.fixture
async def deployment(kafka_bootstrap: str, unique_prefix: str) -> Deployment:
    deployment = Deployment(kafka_bootstrap, unique_prefix)
    await create_topics(deployment.kafka)
    return deployment


@asynccontextmanager
async def gateway(deployment: Deployment, demo_mode: bool = False) -> AsyncIterator[TestClient]:
    app = make_app(deployment.kafka, deployment.keys, ChallengePolicy(), deployment.settings(demo_mode))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        async with asyncio.timeout(60):
            while (await client.get("/readyz")).status != 200:
                await asyncio.sleep(0.1)
        yield client
    finally:
        await client.close()


async def create(
    client: TestClient | aiohttp.ClientSession, key: str, user: str = "user-1"
) -> aiohttp.ClientResponse:
    return await client.post("/sessions", json={"user_ref": user}, headers=bearer(key))


def failed_decision(session: dict, tenant: str, user_ref: str | None = None) -> Decision:
    return Decision(
        session_id=session["session_id"],
        outcome="fail",
        reason="PLANAR_MOTION",
        challenge_type=session["challenge"]["type"],
        checks=(),
        frames_used=40,
        frames_ignored=0,
        started_at_ms=session["issued_at_ms"],
        decided_at_ms=session["issued_at_ms"] + 9_000,
        tenant=tenant,
        user_ref=user_ref,
    )


async def poll_until_decided(client: TestClient, session_id: str, key: str) -> dict:
    async with asyncio.timeout(30):
        while True:
            response = await client.get(f"/sessions/{session_id}", headers=bearer(key))
            assert response.status == 200, await response.text()
            body = await response.json()
            if body["status"] == "decided":
                return body["decision"]
            await asyncio.sleep(0.1)


# ---- tenants and keys -------------------------------------------------------------------------


async def test_session_creation_without_a_key_or_with_a_bad_or_rotated_out_key_is_refused(
    deployment: Deployment,
) -> None:
    async with gateway(deployment) as client:
        assert (await client.post("/sessions", json={"user_ref": "u"})).status == 401
        assert (await create(client, "lk_" + "x" * 43)).status == 401
        assert (await create(client, ACME_OLD_KEY)).status == 401
        refused = await client.post("/sessions", json={"image_width": 640, "image_height": 480})
        assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await create(client, ACME_KEY)).status == 201


async def test_a_backend_must_name_the_user_and_the_events_carry_it_hashed(deployment: Deployment) -> None:
    async with gateway(deployment) as client:
        missing = await client.post(
            "/sessions", json={"image_width": 640, "image_height": 480}, headers=bearer(ACME_KEY)
        )
        assert missing.status == 400
        created = await create(client, ACME_KEY, user="customer-42")
        assert created.status == 201
        session = await created.json()
        decision = failed_decision(session, "acme")
        await deployment.publish_decision(decision)
        await poll_until_decided(client, session["session_id"], ACME_KEY)

    starts = [
        decode_session_event(r.value)
        for r in await read_all(deployment.kafka, deployment.kafka.topics.sessions)
    ]
    (start,) = [s for s in starts if s.session_id == session["session_id"]]
    assert start.tenant == "acme"
    assert start.user_ref is not None and "customer-42" not in start.user_ref and len(start.user_ref) == 64
    assert start.client_ref is not None and "127.0.0.1" not in start.client_ref


async def test_demo_mode_is_off_by_default_and_its_page_never_sees_a_tenant_session(
    deployment: Deployment,
) -> None:
    async with gateway(deployment) as client:
        assert (await client.post("/sessions")).status == 401
    async with gateway(deployment, demo_mode=True) as client:
        demo = await client.post("/sessions")
        assert demo.status == 201
        tenant_session = await (await create(client, ACME_KEY)).json()
        await deployment.publish_decision(failed_decision(tenant_session, "acme"))
        await poll_until_decided(client, tenant_session["session_id"], ACME_KEY)
        # without a key (the demo page), the tenant's decision is not there
        assert (await client.get(f"/sessions/{tenant_session['session_id']}")).status == 404


async def test_a_tenant_cannot_read_another_tenants_decision_or_pending_session(
    deployment: Deployment,
) -> None:
    async with gateway(deployment) as client:
        decided = await (await create(client, ACME_KEY)).json()
        pending = await (await create(client, ACME_KEY, user="user-2")).json()
        await deployment.publish_decision(failed_decision(decided, "acme"))
        await poll_until_decided(client, decided["session_id"], ACME_KEY)
        for session in (decided, pending):
            response = await client.get(f"/sessions/{session['session_id']}", headers=bearer(GLOBEX_KEY))
            assert response.status == 404
            assert "decision" not in await response.text()
            assert (await client.get(f"/sessions/{session['session_id']}")).status == 401
        own = await client.get(f"/sessions/{pending['session_id']}", headers=bearer(ACME_KEY))
        assert (await own.json()) == {"status": "pending"}


async def test_cors_answers_only_the_origins_a_tenant_lists(deployment: Deployment) -> None:
    async with gateway(deployment) as client:
        preflight = {"Origin": "https://onboarding.acme.example", "Access-Control-Request-Method": "GET"}
        listed = await client.options("/sessions/abc", headers=preflight)
        assert listed.status == 204
        assert listed.headers["Access-Control-Allow-Origin"] == "https://onboarding.acme.example"
        other = await client.options("/sessions/abc", headers={**preflight, "Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers


# ---- attempt limits ---------------------------------------------------------------------------


async def test_the_user_attempt_after_n_failures_is_refused_with_the_time_to_retry(
    deployment: Deployment,
) -> None:
    async with gateway(deployment) as client:
        for _ in range(MAX_FAILED):
            session = await (await create(client, ACME_KEY, user="mallory")).json()
            await deployment.publish_decision(failed_decision(session, "acme"))
            await poll_until_decided(client, session["session_id"], ACME_KEY)
        refused = await create(client, ACME_KEY, user="mallory")
        assert refused.status == 429
        body = await refused.json()
        assert body["error"] == "TOO_MANY_ATTEMPTS"
        assert 0 < body["retry_after_s"] <= 600 and refused.headers["Retry-After"] == str(
            body["retry_after_s"]
        )
        # another user, and the same user reference at another tenant, are not affected
        assert (await create(client, ACME_KEY, user="alice")).status == 201
        assert (await create(client, GLOBEX_KEY, user="mallory")).status == 201


async def test_a_pass_does_not_count_and_running_sessions_do(deployment: Deployment) -> None:
    async with gateway(deployment) as client:
        first = await (await create(client, ACME_KEY, user="bob")).json()
        passed = dataclasses.replace(failed_decision(first, "acme"), outcome="pass", reason="PASSED")
        await deployment.publish_decision(passed)
        await poll_until_decided(client, first["session_id"], ACME_KEY)
        for _ in range(MAX_FAILED):  # none decided yet: each counts until it passes
            assert (await create(client, ACME_KEY, user="bob")).status == 201
        assert (await create(client, ACME_KEY, user="bob")).status == 429


async def test_the_attempt_limit_holds_after_a_gateway_restart(deployment: Deployment) -> None:
    async with gateway(deployment) as client:
        for _ in range(MAX_FAILED):
            session = await (await create(client, ACME_KEY, user="carol")).json()
            await deployment.publish_decision(failed_decision(session, "acme"))
    async with gateway(deployment) as restarted:  # a new process's memory: only Kafka remembers
        assert (await create(restarted, ACME_KEY, user="carol")).status == 429
        assert (await create(restarted, ACME_KEY, user="dave")).status == 201


async def test_the_attempt_limit_holds_across_two_gateway_processes(
    deployment: Deployment, tmp_path: Path
) -> None:
    ports = free_ports(2)
    env = {**os.environ, **deployment.env(), "LIVENESS_LOG_LEVEL": "WARNING"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "liveness.cli", "gateway", "--port", str(port)],
            env=env,
            stdout=(tmp_path / f"gw{port}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        async with aiohttp.ClientSession() as http:
            for url in urls:
                await _wait_ready(http, url, procs)
            # the user's attempts spread over both processes, as behind a load balancer
            for index in range(MAX_FAILED):
                async with http.post(
                    f"{urls[index % 2]}/sessions", json={"user_ref": "erin"}, headers=bearer(ACME_KEY)
                ) as r:
                    assert r.status == 201, await r.text()
                    session = await r.json()
                await deployment.publish_decision(failed_decision(session, "acme"))
            await asyncio.sleep(1.0)  # each process reads the other's session starts from Kafka
            for url in urls:
                async with http.post(
                    f"{url}/sessions", json={"user_ref": "erin"}, headers=bearer(ACME_KEY)
                ) as r:
                    assert r.status == 429, (url, await r.text())
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def _wait_ready(http: aiohttp.ClientSession, url: str, procs: list[subprocess.Popen]) -> None:
    async with asyncio.timeout(60):
        while True:
            assert all(p.poll() is None for p in procs), "a gateway exited"
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)


# ---- signed decisions -------------------------------------------------------------------------


async def test_a_decision_verifies_with_the_published_keys_and_fails_when_tampered_or_transplanted(
    deployment: Deployment,
) -> None:
    async with gateway(deployment) as client:
        first = await (await create(client, ACME_KEY, user="frank")).json()
        second = await (await create(client, ACME_KEY, user="grace")).json()
        for session in (first, second):
            await deployment.publish_decision(failed_decision(session, "acme"))
        decision = await poll_until_decided(client, first["session_id"], ACME_KEY)
        other = await poll_until_decided(client, second["session_id"], ACME_KEY)
        jwks = await (await client.get("/.well-known/jwks.json")).json()
    keys = keys_from_jwks(jwks)
    assert decision["signature"]["kid"] in keys
    assert verify_decision(decision, keys, first["session_id"]).outcome == "fail"

    tampered = {**decision, "outcome": "pass", "reason": "PASSED"}
    with pytest.raises(SignatureError, match="differ"):
        verify_decision(tampered, keys, first["session_id"])
    with pytest.raises(SignatureError, match="another session"):  # a decision presented for another session
        verify_decision(other, keys, first["session_id"])
    transplanted = {**other, "session_id": first["session_id"]}
    with pytest.raises(SignatureError):
        verify_decision(transplanted, keys, first["session_id"])
    head, payload, signature = decision["signature"]["jws"].split(".")
    forged_payload = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    forged = {
        **decision,
        "signature": {**decision["signature"], "jws": f"{head}.{forged_payload}.{signature}"},
    }
    with pytest.raises(SignatureError):
        verify_decision(forged, keys, first["session_id"])
    stranger = DecisionSigner(Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError, match="unknown signing key"):
        verify_decision(stranger.sign(Decision.from_dict(decision)).to_dict(), keys, first["session_id"])
