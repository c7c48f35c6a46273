"""The aiokafka shell of the gateway's feedback: observations and decisions routed to connected sessions.

Every gateway process reads every partition of both topics without a consumer
group, and keeps what concerns its own streams. That is what lets several
gateways run side by side behind a load balancer with no coordination: each
one delivers the feedback of the sessions connected to it, and each one can
answer a poll for any session from its decision cache.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from producers.consumers import start_at_end
from producers.gateway.attempts import AttemptLedger
from producers.gateway.registry import DecisionCache
from runtime.settings import KafkaSettings
from schemas.codec import decode_decision, decode_observation, decode_session_event
from schemas.errors import SchemaError
from schemas.events import Decision, Observation, SessionStarted

log = logging.getLogger(__name__)
QUEUE_SIZE = 64  # per stream; a client this far behind loses old observations, never the decision

Event = Observation | Decision


class KafkaFeeds:
    """One consumer of the observations, decisions and sessions topics; ``subscribe`` gets a session's events.

    The sessions and decisions read from ``ledger.policy.window_s`` back feed the
    attempt ledger: ``start`` returns only once that history is read, so a
    gateway is never ready (and never creates a session) with limits it does not know.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        cache: DecisionCache,
        decision_lookback_s: float,
        ledger: AttemptLedger | None = None,
    ) -> None:
        self.topics = kafka.topics
        self.cache, self.ledger = cache, ledger
        window_s = ledger.policy.window_s if ledger is not None else 0.0
        # Passes within the attempt window must be known, or they would count as failures.
        self.decision_lookback_s = max(decision_lookback_s, window_s)
        self.sessions_lookback_s = window_s
        topics = [self.topics.observations, self.topics.decisions]
        if ledger is not None:
            topics.append(self.topics.sessions)
        self._consumer = AIOKafkaConsumer(
            *topics,
            **kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            isolation_level="read_committed",  # a no-op today: the verifier writes no transactions
        )
        self._queues: dict[str, asyncio.Queue[Event]] = {}
        self.started = False

    async def start(self, timeout_s: float = 30.0) -> None:
        """Position every partition: observations at their end, decisions ``decision_lookback_s`` back."""
        await start_at_end(self._consumer, timeout_s)
        ends = {tp: await self._consumer.position(tp) for tp in self._history()}
        await self._rewind(self.topics.decisions, self.decision_lookback_s)
        if self.ledger is not None:
            await self._rewind(self.topics.sessions, self.sessions_lookback_s)
            async with asyncio.timeout(timeout_s):
                await self._catch_up(ends)
        self.started = True

    def _history(self) -> list[TopicPartition]:
        wanted = (self.topics.sessions, self.topics.decisions)
        return [tp for tp in self._consumer.assignment() if tp.topic in wanted]

    async def _rewind(self, topic: str, lookback_s: float) -> None:
        since_ms = time.time_ns() // 1_000_000 - int(lookback_s * 1000)
        partitions = [tp for tp in self._consumer.assignment() if tp.topic == topic]
        offsets = await self._consumer.offsets_for_times({tp: since_ms for tp in partitions})
        for tp, found in offsets.items():
            if found is not None:
                self._consumer.seek(tp, found.offset)

    async def _catch_up(self, ends: dict[TopicPartition, int]) -> None:
        """Read the sessions and decisions of the window up to where they ended at start."""
        while [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]:
            await self._route_batch(await self._consumer.getmany(*ends, timeout_ms=500))

    async def stop(self) -> None:
        self.started = False
        await self._consumer.stop()

    def subscribe(self, session_id: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues[session_id] = queue
        known = self.cache.get(session_id)
        if known is not None:  # decided before the stream opened (e.g. by the verifier's clock)
            queue.put_nowait(known)
        return queue

    def unsubscribe(self, session_id: str) -> None:
        self._queues.pop(session_id, None)

    async def run(self) -> None:
        """Route records until cancelled."""
        while True:
            await self._route_batch(await self._consumer.getmany(timeout_ms=500))

    async def _route_batch(self, batches: dict[TopicPartition, list]) -> None:
        for tp, records in batches.items():
            for record in records:
                self._route(tp, record.key, record.value)

    def _route(self, tp: TopicPartition, key: bytes | None, value: bytes | None) -> None:
        try:
            if tp.topic == self.topics.decisions:
                decision = decode_decision(value)
                if self.ledger is not None:
                    self.ledger.decided(decision)
                if self.cache.put(decision):
                    self._deliver(decision.session_id, decision)
            elif tp.topic == self.topics.sessions:
                event = decode_session_event(value)
                if self.ledger is not None and isinstance(event, SessionStarted):
                    self.ledger.started(event)
            # Observations are keyed by session id: most are for other gateways and are not decoded.
            elif key is not None and (queue := self._queues.get(key.decode(errors="replace"))) is not None:
                _offer(queue, decode_observation(value))
        except SchemaError as exc:  # the producer of a bad record dead-letters it; a reader skips it
            log.warning("skipped an unreadable record of %s: %s", tp.topic, exc)

    def _deliver(self, session_id: str, event: Event) -> None:
        queue = self._queues.get(session_id)
        if queue is not None:
            _offer(queue, event)


def _offer(queue: asyncio.Queue[Event], event: Event) -> None:
    """Queue an event; when full, drop the oldest observation so the newest (and any decision) gets in."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
