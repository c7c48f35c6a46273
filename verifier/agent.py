"""The verifier worker: a thin Faust shell around ``verifier.session.Verifier``.

Sessions live in a changelog-backed table keyed by session id, so a restarted
or rebalanced worker resumes where the last one stopped. The sessions,
observations and tick topics are co-partitioned, so every event of a session
reaches the worker that owns its row. A decided session keeps a small row
forever: that row is what makes a second decision impossible.

Processing is at-least-once: a decision is on the topic before its row says
decided, and after a rebalance the worker reads the tail of the decisions topic
back, so an input replayed after a crash neither loses nor repeats a decision.

Events are taken in batches: each session a batch touches is read from the table
once, fed every event of the batch in partition order, and written back once at
the end, after the decisions and identity requests of the batch are on their
topics; the batch's offsets are acknowledged only after that.

What Faust spends per record is cut where the guarantees above do not depend on it
(``runtime/lean_worker.py``): the input records go from the fetch straight to the shell in
batches (past the conductor, the channel queue and the agent's stream, which stays subscribed),
acknowledged after their batch is stored, as the agent acknowledges its own; the monitor
keeps only partition offsets, and the garbage collector leaves the start-up objects alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import faust
import faust.streams
from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime import logs, metrics
from runtime.faust_app import common_app_options, in_ready_batches
from runtime.lean_worker import BatchDeliveryApp, OffsetsMonitor, settle_garbage_collector
from runtime.settings import KafkaSettings
from runtime.topics import VERIFIER_APP_ID, VERIFIER_TABLE_NAME, ticks_topic_name
from schemas.clock import now_ms
from schemas.codec import VerifierInput, decode_verifier_input, encode
from schemas.errors import LivenessError, SchemaError
from schemas.events import Decision, SessionTick, SourceRef, dead_letter
from schemas.reasons import DeadLetterReason
from schemas.signatures import DecisionSigner
from schemas.tokens import TokenKeys
from verifier.session import Session, Verifier
from verifier.settings import VerifierSettings

log = logging.getLogger(__name__)
TICK_RESEND_MS = 2_000
# Open sessions kept decoded between batches, so an event or a tick does not decode the row again;
# a session beyond this many is read from its row (a decoded session is a few tens of KB).
CACHED_SESSIONS_MAX = 2_000
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
    app_id: str = VERIFIER_APP_ID
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
    # How often the input offsets are committed (each commit flushes the producer first, so the
    # changelog and decisions of the committed events are on the broker); it also bounds how much
    # a crash replays, which ``dedup_tail`` must cover (Faust's default is 2.8 s).
    commit_interval_s: float = 0.1
    # Events taken at once: a session's row is read and written once per batch, not per event.
    # A batch is what one fetch brought (a backlog fills it at once); nothing waits for more.
    batch_max_events: int = 500
    # How long the producer gathers a batch's changelog rows, identity requests and decisions
    # into one request: each waits at most this long on the way to a decision.
    producer_linger_s: float = 0.002


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


def _load(raw: bytes | None) -> Session | None:
    return Session.from_row(raw) if raw else None


@contextlib.contextmanager
def _no_scope(event: Any) -> Iterator[None]:
    yield


@contextlib.contextmanager
def faust_event_scope(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event, whose partition a table read or write goes to.

    Faust finds the partition of a table operation in its current-event context variable,
    which a stream sets only for the event it is yielding, not for a batch handled later.
    """
    token = faust.streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)


@dataclass
class _Batch:
    """The sessions one batch of events touched, each decoded once and written once at its end."""

    sessions: dict[bytes, Session | None] = field(default_factory=dict)  # None: delete the row
    events: dict[bytes, Any] = field(default_factory=dict)  # an event of the row's partition
    applied: dict[bytes, list[tuple[VerifierInput, int]]] = field(default_factory=dict)
    deliveries: dict[bytes, list[Awaitable[Any]]] = field(default_factory=dict)
    messages: dict[bytes, list[Any]] = field(default_factory=dict)


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
        table_scope: Callable[[Any], contextlib.AbstractContextManager[None]] = _no_scope,
    ) -> None:
        self.core, self.table, self.signer = core, table, signer
        self.decisions, self.dead_letters, self.ticks = decisions, dead_letters, ticks
        self.identity_requests = identity_requests
        self.table_scope = table_scope
        self.open_sessions: set[bytes] = set()
        # Open sessions, decoded, equal to their rows; a batch takes a session out while it changes it.
        self.cached: dict[bytes, Session] = {}
        self.ticked_at: dict[bytes, int] = {}
        self.last_full_scan = 0.0
        self.owning_since_ms = now_ms()
        self.decided_before: set[bytes] = set()  # decisions on the topic, read back after a rebalance

    def owning_from(self, at_ms: int) -> None:
        """Partitions were (re)assigned or recovered at ``at_ms``: this worker hears them from now on."""
        self.owning_since_ms = at_ms
        self.cached.clear()  # rows may have come back from the changelog

    def _row(self, key: bytes) -> Session | None:
        """The session as its row says, decoded (the cached copy when there is one)."""
        return self._heard(self.cached.get(key) or _load(self.table.get(key)))

    def _take(self, batch: _Batch, key: bytes, event: Any) -> Session | None:
        """The session for the next event of ``key``: the batch's copy, else its row's (out of the cache)."""
        if key in batch.sessions:
            return batch.sessions[key]
        session = self.cached.pop(key, None)
        if session is None:
            with self.table_scope(event):  # only a read needs the event's partition
                session = _load(self.table.get(key))
        return self._heard(session)

    def _cache(self, key: bytes, session: Session | None) -> None:
        if session is None or session.decided:
            self.cached.pop(key, None)
            return
        if key not in self.cached and len(self.cached) >= CACHED_SESSIONS_MAX:
            del self.cached[next(iter(self.cached))]  # the one cached longest ago
        self.cached[key] = session

    def _heard(self, session: Session | None) -> Session | None:
        """A session as this worker may judge its silence (the core's rule, from its ownership time)."""
        return self.core.heard_since(session, self.owning_since_ms)

    async def on_message(self, message: Any, now_ms: int) -> None:
        """One message as a batch of one."""
        await self.on_events([SimpleNamespace(message=message)], now_ms)

    async def on_events(self, events: Sequence[Any], now_ms: int) -> None:
        """Apply a batch of Faust events (each with ``.message``) in order, then store each row once.

        The decisions and identity requests of the batch are acknowledged by the broker before any
        row is written, so a row never says more than the topics; a crash before the rows are
        written repeats the batch (its offsets are acknowledged after this returns), and the
        decisions it repeats are caught by ``decided_before``.
        """
        batch = _Batch()
        for event in events:
            message = event.message
            logs.bind_session(message.key)  # records are keyed by session id
            await self._on_event(batch, event, message, now_ms)
        await self._store(batch, now_ms)

    async def _on_event(self, batch: _Batch, event: Any, message: Any, now_ms: int) -> None:
        """Decode, apply, emit; anything unexpected becomes a dead letter, never a crash."""
        try:
            await self._handle(batch, event, message, now_ms)
        except Exception as exc:  # one bad event must not stop every other session
            log.exception("verifier failed on %s[%s]@%s", message.topic, message.partition, message.offset)
            if message.key in batch.sessions:  # the core may have changed it before failing
                with self.table_scope(event):
                    batch.sessions[message.key] = self._replayed(batch, message.key)
            self.cached.pop(message.key, None)
            reason = DeadLetterReason.INTERNAL_ERROR.value
            await self._dead_letter(message, reason, repr(exc), None, now_ms)

    def _replayed(self, batch: _Batch, key: bytes) -> Session | None:
        """The session as it was before its failed event: its row, with its earlier events of the batch."""
        session = self._heard(_load(self.table.get(key)))
        for item, at_ms in batch.applied.get(key, []):
            session = self.core.handle(session, item, at_ms).session  # what it sent is already sent
        return session

    async def _handle(self, batch: _Batch, event: Any, message: Any, now_ms: int) -> None:
        try:
            item = decode_verifier_input(message.value)
            if message.key != item.session_id.encode():
                raise SchemaError(f"record key {message.key!r} is not the session id")
        except LivenessError as exc:
            await self._dead_letter(message, exc.reason_code, str(exc), None, now_ms)
            return
        key = message.key
        session = self._take(batch, key, event)
        outcome = self.core.handle(session, item, now_ms)
        # Requests before the row, like decisions: a crash in between repeats a request (the
        # identity stage answers twice, the second answer is ignored), it never loses one.
        sent = batch.deliveries.setdefault(key, [])
        for request in outcome.identity_requests:
            sent.append(await self.identity_requests.send(key=key, value=encode(request)))
        if outcome.decision is not None:
            delivery = await self._emit(key, outcome.decision)
            if delivery is not None:
                sent.append(delivery)
        batch.sessions[key] = None if outcome.orphaned else outcome.session
        batch.events[key] = event
        batch.applied.setdefault(key, []).append((item, now_ms))
        batch.messages.setdefault(key, []).append(message)
        if outcome.orphaned:
            detail = f"{len(outcome.session.pending)} observations for a session that never started"
            await self._dead_letter(
                message, DeadLetterReason.UNKNOWN_SESSION.value, detail, key.decode(), now_ms
            )
        if outcome.orphaned or outcome.session.decided:
            self.open_sessions.discard(key)
            self.ticked_at.pop(key, None)  # else one entry stays for every session ever ticked
        else:
            self.open_sessions.add(key)

    async def _store(self, batch: _Batch, now_ms: int) -> None:
        """Write each touched row once, after what the batch sent for it is on the broker.

        A session whose send failed keeps its row as it was before the batch and its events of
        the batch become dead letters, as one failed event did before batching.
        """
        keys = list(batch.deliveries)
        results = await asyncio.gather(
            *(asyncio.gather(*batch.deliveries[key]) for key in keys), return_exceptions=True
        )
        failed = {k: r for k, r in zip(keys, results, strict=True) if isinstance(r, BaseException)}
        for key, session in batch.sessions.items():
            if key in failed:
                log.error("send for %s failed: row left as before the batch", key, exc_info=failed[key])
                for message in batch.messages[key]:
                    reason = DeadLetterReason.INTERNAL_ERROR.value
                    await self._dead_letter(message, reason, repr(failed[key]), None, now_ms)
                self.open_sessions.add(key)  # the tick scan finds out what the row says
                self.cached.pop(key, None)
                continue
            with self.table_scope(batch.events[key]):
                if session is not None:
                    self.table[key] = session.to_row()
                elif key in self.table:
                    del self.table[key]
            self._cache(key, session)

    async def _emit(self, key: bytes, decision: Decision) -> Awaitable[Any] | None:
        """Send a decision once: durable before the row says decided, and never for a session already on it.

        Returns its delivery, which the row waits for: a crash in between can only repeat the
        decision (the row was lost), never lose it (the row survived alone); the repeat is caught
        by ``decided_before``, the decisions read back from the topic after the rebalance.
        """
        if key in self.decided_before:
            log.warning("decision for %s already on the topic (before a restart): not sent again", key)
            return None
        if self.signer is not None:  # signed here, in the shell: the core never holds key material
            decision = self.signer.sign(decision)
        delivery = await self.decisions.send(key=key, value=encode(decision))
        return _recorded(delivery, decision)

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
                key for key, raw in self.table.items() if raw and not Session.row_decided(raw)
            )
        for key in list(self.open_sessions):
            session = self._row(key)
            if session is None or session.decided:
                self.open_sessions.discard(key)
                self.ticked_at.pop(key, None)
                continue
            if self.core.needs_tick(session, now_ms) and now_ms - self.ticked_at.get(key, 0) > TICK_RESEND_MS:
                self.ticked_at[key] = now_ms
                await self.ticks.send(key=key, value=encode(SessionTick(key.decode(), now_ms)))
        metrics.set_open_sessions(len(self.open_sessions))


async def _recorded(delivery: Awaitable[Any], decision: Decision) -> None:
    await delivery
    metrics.record_decision(decision)


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
    app = BatchDeliveryApp(
        worker.app_id,
        **common_app_options(kafka, worker.web_port, worker.producer_linger_s),
        store=worker.store,
        datadir=worker.data_dir,
        processing_guarantee=worker.processing_guarantee,
        broker_commit_interval=worker.commit_interval_s,
        Monitor=OffsetsMonitor,
    )
    ticks_name = ticks_topic_name(kafka, worker.app_id)
    inputs = app.topic(topics.sessions, topics.observations, ticks_name, key_type=bytes, value_type=bytes)
    table = app.Table(
        VERIFIER_TABLE_NAME,
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
        table_scope=faust_event_scope,
    )

    async def verify_batch(records: Sequence[Any]) -> None:
        await shell.on_events(records, now_ms())

    app.deliver_directly(frozenset(inputs.topics), verify_batch, worker.batch_max_events)

    @app.agent(inputs)
    async def verify_sessions(stream: faust.StreamT) -> None:
        """Subscribes the inputs; their records come through ``verify_batch`` (any left here too)."""
        settle_garbage_collector()  # the worker has started: what it holds now stays
        # No batch window: a window's timer wakes the idle agent 200 times a second (with Faust's
        # take_events, 8% of a camera-paced verifier's py-spy samples), and records reach this
        # agent only exceptionally.
        await in_ready_batches(stream, worker.batch_max_events, verify_batch)

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
