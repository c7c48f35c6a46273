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

from liveness.config import KafkaSettings
from producers.consumers import start_at_end
from producers.gateway.registry import DecisionCache
from schemas.codec import decode_decision, decode_observation
from schemas.errors import SchemaError
from schemas.events import Decision, Observation

log = logging.getLogger(__name__)
QUEUE_SIZE = 64  # per stream; a client this far behind loses old observations, never the decision

Event = Observation | Decision


class KafkaFeeds:
    """One consumer of the observations and decisions topics; ``subscribe`` gets a session's events."""

    def __init__(self, kafka: KafkaSettings, cache: DecisionCache, decision_lookback_s: float) -> None:
        self.topics = kafka.topics
        self.cache, self.decision_lookback_s = cache, decision_lookback_s
        self._consumer = AIOKafkaConsumer(
            self.topics.observations,
            self.topics.decisions,
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
        await self._rewind_decisions()
        self.started = True

    async def _rewind_decisions(self) -> None:
        since_ms = time.time_ns() // 1_000_000 - int(self.decision_lookback_s * 1000)
        partitions = [tp for tp in self._consumer.assignment() if tp.topic == self.topics.decisions]
        offsets = await self._consumer.offsets_for_times({tp: since_ms for tp in partitions})
        for tp, found in offsets.items():
            if found is not None:
                self._consumer.seek(tp, found.offset)

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
            batches = await self._consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    self._route(tp, record.key, record.value)

    def _route(self, tp: TopicPartition, key: bytes | None, value: bytes | None) -> None:
        try:
            if tp.topic == self.topics.decisions:
                decision = decode_decision(value)
                if self.cache.put(decision):
                    self._deliver(decision.session_id, decision)
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
