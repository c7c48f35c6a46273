"""The verifier worker: a thin Faust shell around ``verifier.session.Verifier``.

Sessions live in a changelog-backed table keyed by session id, so a restarted
or rebalanced worker resumes where the last one stopped. The sessions,
observations and tick topics are co-partitioned, so every event of a session
reaches the worker that owns its row. A decided session keeps a small row
forever: that row is what makes a second decision impossible.

Processing is at-least-once: a decision is on the topic before its row says
decided, and after a rebalance the worker reads the tail of the decisions topic
back, so an input replayed after a crash neither loses nor repeats a decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from liveness import logs, metrics
from liveness.config import KafkaSettings, common_app_options
from schemas.clock import now_ms
from schemas.codec import decode_verifier_input, encode
from schemas.errors import LivenessError, SchemaError
from schemas.events import Decision, SessionTick, SourceRef, dead_letter
from schemas.reasons import DeadLetterReason
from schemas.signatures import DecisionSigner
from schemas.tokens import TokenKeys
from verifier.session import Session, Verifier
from verifier.settings import VerifierSettings

log = logging.getLogger(__name__)
TABLE_NAME = "sessions"
TICK_RESEND_MS = 2_000
FULL_SCAN_EVERY_S = 60.0
# Faust's RocksDB defaults (64 MiB memtables, up to 3, and a 2 GiB block cache, per partition) let
# a verifier grow by ~10 MB a minute under steady load until it passes its 1 GiB pod limit (the
# soak in docs/reliability.md). Rows are small and rewritten per frame: small buffers suffice.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 << 20,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 << 20,
    "block_cache_compressed_size": 8 << 20,
}


@dataclass(frozen=True)
class VerifierWorkerSettings:
    app_id: str = "liveness-verifier"
    tick_interval_s: float = 1.0
    store: str = "rocksdb://"
    data_dir: str = "./data/verifier"
    web_port: int | None = None
    # At-least-once plus a deduplicated decision emission (see docs/reliability.md): Faust 0.15.3's
    # exactly-once crashed both verifiers on a rebalance (ConsistencyError: it reads the changelog's
    # highwater as -1 before the first fetch), and its RocksDB store keeps the writes of an aborted
    # transaction, so a warm restart could find a session "decided" whose decision was rolled back.
    processing_guarantee: str = "at_least_once"
    # How many records of each decisions partition a worker reads back after a rebalance, to know
    # which sessions were decided just before a crash but not yet recorded in the changelog: the
    # changelog is flushed at every commit, so a few commit intervals' worth is enough.
    dedup_tail: int = 1_000
    # With transactions a decision becomes visible to read-committed consumers when the
    # transaction commits, so this interval bounds decision latency (Faust's default is 2.8 s).
    commit_interval_s: float = 0.1


async def decided_in_tail(kafka: KafkaSettings, partitions: set[int], tail: int) -> set[bytes]:
    """Session ids (record keys) among the last ``tail`` decisions of each of ``partitions``."""
    topic = kafka.topics.decisions
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(starts[tp], ends[tp] - tail))
        keys: set[bytes] = set()
        try:
            async with asyncio.timeout(60):
                while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        keys.update(record.key for record in records if record.key)
        except TimeoutError:  # a partial read still catches most repeats; a stuck worker catches none
            log.warning("read back only %d decisions of %s in 60 s", len(keys), topic)
        return keys
    finally:
        await consumer.stop()


def ticks_topic_name(kafka: KafkaSettings, app_id: str) -> str:
    return f"{kafka.topic_prefix}{app_id}-ticks"


def changelog_topic_name(app_id: str) -> str:
    return f"{app_id}-{TABLE_NAME}-changelog"


def _load(raw: bytes | None) -> Session | None:
    return Session.from_dict(orjson.loads(raw)) if raw else None


class VerifierShell:
    """The worker's per-process state around the core: the table, the topics, the open-session index."""

    def __init__(
        self,
        core: Verifier,
        table: Any,
        decisions: Any,
        dead_letters: Any,
        ticks: Any,
        identity_requests: Any,
        signer: DecisionSigner | None = None,
    ) -> None:
        self.core, self.table, self.signer = core, table, signer
        self.decisions, self.dead_letters, self.ticks = decisions, dead_letters, ticks
        self.identity_requests = identity_requests
        self.open_sessions: set[bytes] = set()
        self.ticked_at: dict[bytes, int] = {}
        self.last_full_scan = 0.0
        self.owning_since_ms = now_ms()
        self.decided_before: set[bytes] = set()  # decisions on the topic, read back after a rebalance

    def owning_from(self, at_ms: int) -> None:
        """Partitions were (re)assigned or recovered at ``at_ms``: this worker hears them from now on."""
        self.owning_since_ms = at_ms

    def _heard(self, session: Session | None) -> Session | None:
        """A session as this worker may judge its silence.

        While no worker owned it (crash, rebalance, recovery) its events were unread, not absent:
        that time is not the client's silence, or a restart would settle every open session.
        """
        if session is not None and session.last_activity_ms < self.owning_since_ms:
            session.last_activity_ms = self.owning_since_ms
        return session

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
        outcome = self.core.handle(self._heard(_load(self.table.get(key))), item, now_ms)
        # Requests before the row, like decisions: a crash in between repeats a request (the
        # identity stage answers twice, the second answer is ignored), it never loses one.
        for request in outcome.identity_requests:
            await (await self.identity_requests.send(key=key, value=encode(request)))
        if outcome.decision is not None:
            await self._emit(key, outcome.decision)
        if outcome.orphaned:
            detail = f"{len(outcome.session.pending)} observations for a session that never started"
            await self._dead_letter(
                message, DeadLetterReason.UNKNOWN_SESSION.value, detail, key.decode(), now_ms
            )
            del self.table[key]
            self.open_sessions.discard(key)
            self.ticked_at.pop(key, None)
            return
        self.table[key] = orjson.dumps(outcome.session.to_dict())
        if outcome.session.decided:
            self.open_sessions.discard(key)
            self.ticked_at.pop(key, None)  # else one entry stays for every session ever ticked
        else:
            self.open_sessions.add(key)

    async def _emit(self, key: bytes, decision: Decision) -> None:
        """Send a decision once: durable before the row says decided, and never for a session already on it.

        The row is written after the broker has the decision, so a crash in between can only repeat
        the decision (the row was lost), never lose it (the row survived alone); the repeat is caught
        by ``decided_before``, the decisions read back from the topic after the rebalance.
        """
        if key in self.decided_before:
            log.warning("decision for %s already on the topic (before a restart): not sent again", key)
            return
        if self.signer is not None:  # signed here, in the shell: the core never holds key material
            decision = self.signer.sign(decision)
        delivery = await self.decisions.send(key=key, value=encode(decision))
        await delivery
        metrics.record_decision(decision)

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
            session = self._heard(_load(self.table.get(key)))
            if session is None or session.decided:
                self.open_sessions.discard(key)
                self.ticked_at.pop(key, None)
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
    signer: DecisionSigner | None = None,
) -> faust.App:
    """The verifier worker; with ``signer`` every decision it publishes is signed."""
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
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=kafka.partitions,
        key_type=bytes,
        value_type=bytes,
        options=dict(ROCKSDB_OPTIONS),  # a copy: Faust's store pops keys from it
    )
    shell = VerifierShell(
        Verifier(settings or VerifierSettings(), keys),
        table,
        decisions=app.topic(topics.decisions, key_type=bytes, value_type=bytes),
        dead_letters=app.topic(topics.dead_letters, key_type=bytes, value_type=bytes),
        ticks=app.topic(ticks_name, key_type=bytes, value_type=bytes),
        identity_requests=app.topic(topics.identity_requests, key_type=bytes, value_type=bytes),
        signer=signer,
    )

    @app.agent(inputs)
    async def verify_sessions(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await shell.on_message(event.message, now_ms())

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        shell.owning_from(now_ms())

    @app.on_rebalance_complete.connect
    async def on_recovered(sender: Any, **kwargs: Any) -> None:
        # Sent after the table is recovered and before the inputs resume: read back what was decided.
        partitions = {tp.partition for tp in app.consumer.assignment() if tp.topic == topics.sessions}
        shell.decided_before = await decided_in_tail(kafka, partitions, worker.dedup_tail)
        shell.owning_from(now_ms())

    @app.timer(interval=worker.tick_interval_s)
    async def tick_due_sessions() -> None:
        await shell.tick_due_sessions(now_ms())

    return app
