"""Replay recorded sessions: offline through the same core in-process, or through Kafka."""

from __future__ import annotations

import asyncio
import functools
import secrets
import uuid
from collections.abc import Sequence

from processors.identity import IdentityModel, IdentityStage
from processors.landmarks import FaceAnalyzer
from processors.pipeline import process_frame
from producers.challenge_service import ChallengeService
from producers.decision_watcher import DecisionWatcher
from producers.publisher import SessionPublisher, publish_recording
from producers.recording import RecordedSession
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.codec import frame_headers
from schemas.events import Decision, FrameMeta, IdentityRequest, IdentitySample, SourceRef
from schemas.tokens import TokenKeys
from verifier.in_process import InProcessVerifier
from verifier.session import Verifier
from verifier.settings import VerifierSettings


def ephemeral_keys() -> TokenKeys:
    """Keys for a replay that issues and checks its tokens within one process."""
    return TokenKeys(secrets.token_bytes(32))


@functools.cache
def shared_identity_model() -> IdentityModel:
    """The face-recognition model, loaded once per process for offline replays."""
    return IdentityModel()


def replay_offline(
    recording: RecordedSession,
    analyzer: FaceAnalyzer,
    settings: VerifierSettings | None = None,
    origin_ms: int | None = None,
    identity: IdentityStage | None = None,
) -> Decision:
    """The decision the streaming pipeline would make, computed in-process with no broker.

    Frames are taken as received by the server at their capture offsets from
    ``origin_ms`` (now by default): a pipeline with no delay. The identity stage
    answers each identity request at once, from the recording's own frame.
    """
    keys = ephemeral_keys()
    stage = identity or IdentityStage(analyzer, shared_identity_model())
    frames = {frame.seq: frame for frame in recording.frames}

    def answer(request: IdentityRequest) -> IdentitySample:
        frame = frames.get(request.seq)
        return stage.sample(request, frame.jpeg() if frame else None)

    core = InProcessVerifier(Verifier(settings or VerifierSettings(), keys), answer)
    origin_ms = now_ms() if origin_ms is None else origin_ms
    started = ChallengeService(keys).start(
        origin_ms, challenge=recording.challenge, session_id=recording.session_id
    )
    outcome = core.apply(None, started, origin_ms)
    first_ms = recording.frames[0].captured_at_ms if recording.frames else 0
    received_ms = origin_ms
    for frame in recording.frames:
        if outcome.decision:
            return outcome.decision
        received_ms = origin_ms + frame.captured_at_ms - first_ms
        meta = FrameMeta(recording.session_id, frame.seq, received_ms)
        source = SourceRef("offline", 0, frame.seq)
        result = process_frame(analyzer, frame.jpeg(), frame_headers(meta), received_ms, source, received_ms)
        if result.observation is not None:
            outcome = core.apply(outcome.session, result.observation, received_ms)
    last_seq = recording.frames[-1].seq if recording.frames else 0
    return core.finish(outcome, last_seq, received_ms)


async def replay_streaming(
    kafka: KafkaSettings,
    recordings: Sequence[RecordedSession],
    keys: TokenKeys,
    timeout_s: float = 60.0,
    paced: bool = True,
) -> list[Decision]:
    """Publish recordings concurrently through Kafka and wait for each one's decision.

    Each replay gets a fresh session id (``<recorded id>-<random>``): a session id
    gets one decision ever, so replaying an id that was already decided would
    rightly get none.
    """
    service = ChallengeService(keys)
    ids = [f"{r.session_id}-{uuid.uuid4().hex[:8]}" for r in recordings]
    async with DecisionWatcher(kafka) as watcher, SessionPublisher(kafka) as publisher:
        await asyncio.gather(
            *(
                publish_recording(publisher, recording, service, session_id=sid, paced=paced)
                for recording, sid in zip(recordings, ids, strict=True)
            )
        )
        decisions = await watcher.wait_for(set(ids), timeout_s)
    return [decisions[sid] for sid in ids]
