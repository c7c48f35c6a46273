"""The verifier worker: a thin Faust shell around ``verifier.session.Verifier``.

Sessions live in a changelog-backed table keyed by session id, so a restarted
or rebalanced worker resumes where the last one stopped. The sessions,
observations and tick topics are co-partitioned, so every event of a session
reaches the worker that owns its row. A decided session keeps a small row
forever: that row is what makes a second decision impossible.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import faust
import orjson

from liveness.config import KafkaSettings
from processors.agent import common_app_options
from schemas.codec import decode_verifier_input, encode
from schemas.errors import LivenessError
from schemas.events import SessionTick, SourceRef, dead_letter
from schemas.reasons import DeadLetterReason
from schemas.tokens import TokenKeys
from verifier.session import Outcome, Session, Verifier
from verifier.settings import VerifierSettings

log = logging.getLogger(__name__)
TABLE_NAME = "sessions"
TICK_RESEND_MS = 2_000
FULL_SCAN_EVERY_S = 60.0


@dataclass(frozen=True)
class VerifierWorkerSettings:
    app_id: str = "liveness-verifier"
    tick_interval_s: float = 1.0
    store: str = "rocksdb://"
    data_dir: str = "./data/verifier"
    web_port: int | None = None


def ticks_topic_name(kafka: KafkaSettings, app_id: str) -> str:
    return f"{kafka.topic_prefix}{app_id}-ticks"


def changelog_topic_name(app_id: str) -> str:
    return f"{app_id}-{TABLE_NAME}-changelog"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _load(raw: bytes | None) -> Session | None:
    return Session.from_dict(orjson.loads(raw)) if raw else None


def make_verifier_app(
    kafka: KafkaSettings,
    keys: TokenKeys | None,
    settings: VerifierSettings | None = None,
    worker: VerifierWorkerSettings | None = None,
) -> faust.App:
    worker = worker or VerifierWorkerSettings()
    core = Verifier(settings or VerifierSettings(), keys)
    topics = kafka.topics
    app = faust.App(
        worker.app_id,
        **common_app_options(kafka, worker.web_port),
        store=worker.store,
        datadir=worker.data_dir,
    )
    ticks_name = ticks_topic_name(kafka, worker.app_id)
    inputs = app.topic(topics.sessions, topics.observations, ticks_name, key_type=bytes, value_type=bytes)
    ticks = app.topic(ticks_name, key_type=bytes, value_type=bytes)
    decisions = app.topic(topics.decisions, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(topics.dead_letters, key_type=bytes, value_type=bytes)
    table = app.Table(TABLE_NAME, default=None, partitions=kafka.partitions, key_type=bytes, value_type=bytes)
    open_sessions: set[bytes] = set()
    ticked_at: dict[bytes, int] = {}
    last_full_scan = [0.0]

    async def publish(key: bytes, outcome: Outcome, source: SourceRef, now_ms: int) -> None:
        if outcome.decision is not None:
            await decisions.send(key=key, value=encode(outcome.decision))
        if outcome.orphaned:
            detail = f"{len(outcome.session.pending)} observations for a session that never started"
            letter = dead_letter(
                DeadLetterReason.UNKNOWN_SESSION.value, detail, source, None, key.decode(), now_ms
            )
            await dead_letters.send(key=key, value=encode(letter))

    @app.agent(inputs)
    async def verify_sessions(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message, now_ms = event.message, _now_ms()
            source = SourceRef(message.topic, message.partition, message.offset)
            try:
                item = decode_verifier_input(message.value)
                if message.key != item.session_id.encode():
                    raise LivenessError(f"record key {message.key!r} is not the session id")
            except LivenessError as exc:
                letter = dead_letter(exc.reason_code, str(exc), source, message.value, None, now_ms)
                await dead_letters.send(key=message.key, value=encode(letter))
                continue
            key = message.key
            outcome = core.handle(_load(table[key]), item, now_ms)
            await publish(key, outcome, source, now_ms)
            if outcome.orphaned:
                del table[key]
                open_sessions.discard(key)
                continue
            table[key] = orjson.dumps(outcome.session.to_dict())
            (open_sessions.discard if outcome.session.decided else open_sessions.add)(key)

    @app.timer(interval=worker.tick_interval_s)
    async def tick_due_sessions() -> None:
        """Ask the owner of each due session to settle it (tables change only inside the agent)."""
        now_ms = _now_ms()
        if time.monotonic() - last_full_scan[0] > FULL_SCAN_EVERY_S:
            last_full_scan[0] = time.monotonic()
            open_sessions.update(key for key, raw in table.items() if raw and not _load(raw).decided)
        for key in list(open_sessions):
            session = _load(table.get(key))
            if session is None or session.decided:
                open_sessions.discard(key)
                continue
            if core.needs_tick(session, now_ms) and now_ms - ticked_at.get(key, 0) > TICK_RESEND_MS:
                ticked_at[key] = now_ms
                await ticks.send(key=key, value=encode(SessionTick(key.decode(), now_ms)))

    return app
