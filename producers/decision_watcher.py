"""Follow the decisions topic from now on and hand back the decisions of chosen sessions."""

from __future__ import annotations

import asyncio
from types import TracebackType

from aiokafka import AIOKafkaConsumer

from producers.consumers import start_at_end
from runtime.settings import KafkaSettings
from schemas.codec import decode_decision
from schemas.errors import SchemaError
from schemas.events import Decision


class DecisionWatcher:
    """Reads every partition of the decisions topic from its current end (no consumer group)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._topic = kafka.topics.decisions
        self._consumer = AIOKafkaConsumer(
            self._topic,
            **kafka.client_options(),
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="latest",
            # Needed only if the verifier runs with transactions (exactly_once); harmless otherwise.
            isolation_level="read_committed",
        )
        self.seen: dict[str, list[Decision]] = {}

    async def start(self, timeout_s: float = 30.0) -> None:
        """Start at the end of every partition, so only decisions made from now on are seen."""
        await start_at_end(self._consumer, timeout_s)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def __aenter__(self) -> DecisionWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.stop()

    async def wait_for(self, session_ids: set[str], timeout_s: float) -> dict[str, Decision]:
        """Decisions of ``session_ids`` (the first of each); raises ``TimeoutError`` if any is missing."""
        async with asyncio.timeout(timeout_s):
            while not session_ids <= self.seen.keys():
                await self.poll(0.5)
        return {sid: self.seen[sid][0] for sid in session_ids}

    async def poll(self, timeout_s: float) -> list[Decision]:
        """Whatever decisions arrived within ``timeout_s``; every one is kept in ``seen``."""
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000))
        decisions = []
        for records in batches.values():
            for record in records:
                try:
                    decision = decode_decision(record.value)
                except SchemaError:
                    continue  # a consumer tolerates what it cannot read; the producer's DLQ has it
                self.seen.setdefault(decision.session_id, []).append(decision)
                decisions.append(decision)
        return decisions
