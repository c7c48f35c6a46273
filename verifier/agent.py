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
from typing import Any

import faust
import orjson

from liveness import logs, metrics
from liveness.config import KafkaSettings
from processors.agent import common_app_options
from schemas.clock import now_ms
from schemas.codec import decode_verifier_input, encode
from schemas.errors import LivenessError, SchemaError
from schemas.events import SessionTick, SourceRef, dead_letter
from schemas.reasons import DeadLetterReason
from schemas.tokens import TokenKeys
from verifier.session import Session, Verifier
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
    # Kafka transactions: the table's changelog, the decision and the input offsets commit
    # together, so a crash can neither lose a decision nor emit it twice.
    processing_guarantee: str = "exactly_once"
    # With transactions a decision becomes visible to read-committed consumers when the
    # transaction commits, so this interval bounds decision latency (Faust's default is 2.8 s).
    commit_interval_s: float = 0.1


def ticks_topic_name(kafka: KafkaSettings, app_id: str) -> str:
    return f"{kafka.topic_prefix}{app_id}-ticks"


def changelog_topic_name(app_id: str) -> str:
    return f"{app_id}-{TABLE_NAME}-changelog"


def _load(raw: bytes | None) -> Session | None:
    return Session.from_dict(orjson.loads(raw)) if raw else None


class VerifierShell:
    """The worker's per-process state around the core: the table, the topics, the open-session index."""

    def __init__(self, core: Verifier, table: Any, decisions: Any, dead_letters: Any, ticks: Any) -> None:
        self.core, self.table = core, table
        self.decisions, self.dead_letters, self.ticks = decisions, dead_letters, ticks
        self.open_sessions: set[bytes] = set()
        self.ticked_at: dict[bytes, int] = {}
        self.last_full_scan = 0.0

    async def on_message(self, message: Any, now_ms: int) -> None:
        """Decode, apply, store, emit; anything unexpected becomes a dead letter, never a crash."""
        logs.bind_session(message.key)  # records are keyed by session id
        try:
            await self._handle(message, now_ms)
        except Exception as exc:  # one bad event must not stop every other session
            log.exception("verifier failed on %s[%s]@%s", message.topic, message.partition, message.offset)
            reason = DeadLetterReason.INTERNAL_ERROR.value
            await self._dead_letter(message, reason, repr(exc), None, now_ms)

    async def _handle(self, message: Any, now_ms: int) -> None:
        try:
            item = decode_verifier_input(message.value)
            if message.key != item.session_id.encode():
                raise SchemaError(f"record key {message.key!r} is not the session id")
        except LivenessError as exc:
            await self._dead_letter(message, exc.reason_code, str(exc), None, now_ms)
            return
        key = message.key
        outcome = self.core.handle(_load(self.table.get(key)), item, now_ms)
        if outcome.decision is not None:
            await self.decisions.send(key=key, value=encode(outcome.decision))
            metrics.record_decision(outcome.decision)
        if outcome.orphaned:
            detail = f"{len(outcome.session.pending)} observations for a session that never started"
            await self._dead_letter(
                message, DeadLetterReason.UNKNOWN_SESSION.value, detail, key.decode(), now_ms
            )
            del self.table[key]
            self.open_sessions.discard(key)
            return
        self.table[key] = orjson.dumps(outcome.session.to_dict())
        (self.open_sessions.discard if outcome.session.decided else self.open_sessions.add)(key)

    async def _dead_letter(
        self, message: Any, reason: str, detail: str, session_id: str | None, now_ms: int
    ) -> None:
        source = SourceRef(message.topic, message.partition, message.offset)
        letter = dead_letter(reason, detail, source, message.value, session_id, now_ms)
        await self.dead_letters.send(key=message.key, value=encode(letter))
        metrics.record_dead_letter("verifier", reason)

    async def tick_due_sessions(self, now_ms: int) -> None:
        """Ask the owner of each due session to settle it (tables change only inside the agent)."""
        if time.monotonic() - self.last_full_scan > FULL_SCAN_EVERY_S:
            self.last_full_scan = time.monotonic()
            self.open_sessions.update(
                key for key, raw in self.table.items() if raw and not _load(raw).decided
            )
        for key in list(self.open_sessions):
            session = _load(self.table.get(key))
            if session is None or session.decided:
                self.open_sessions.discard(key)
                continue
            if self.core.needs_tick(session, now_ms) and now_ms - self.ticked_at.get(key, 0) > TICK_RESEND_MS:
                self.ticked_at[key] = now_ms
                await self.ticks.send(key=key, value=encode(SessionTick(key.decode(), now_ms)))
        metrics.set_open_sessions(len(self.open_sessions))


def make_verifier_app(
    kafka: KafkaSettings,
    keys: TokenKeys | None,
    settings: VerifierSettings | None = None,
    worker: VerifierWorkerSettings | None = None,
) -> faust.App:
    worker = worker or VerifierWorkerSettings()
    topics = kafka.topics
    app = faust.App(
        worker.app_id,
        **common_app_options(kafka, worker.web_port),
        store=worker.store,
        datadir=worker.data_dir,
        processing_guarantee=worker.processing_guarantee,
        broker_commit_interval=worker.commit_interval_s,
    )
    ticks_name = ticks_topic_name(kafka, worker.app_id)
    inputs = app.topic(topics.sessions, topics.observations, ticks_name, key_type=bytes, value_type=bytes)
    table = app.Table(TABLE_NAME, default=None, partitions=kafka.partitions, key_type=bytes, value_type=bytes)
    shell = VerifierShell(
        Verifier(settings or VerifierSettings(), keys),
        table,
        decisions=app.topic(topics.decisions, key_type=bytes, value_type=bytes),
        dead_letters=app.topic(topics.dead_letters, key_type=bytes, value_type=bytes),
        ticks=app.topic(ticks_name, key_type=bytes, value_type=bytes),
    )

    @app.agent(inputs)
    async def verify_sessions(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await shell.on_message(event.message, now_ms())

    @app.timer(interval=worker.tick_interval_s)
    async def tick_due_sessions() -> None:
        await shell.tick_due_sessions(now_ms())

    return app
