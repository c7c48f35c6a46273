"""Fixtures for tests that run the real pipeline: broker, topics, processor and verifier processes."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from devtools.stack import Stack
from runtime.settings import KafkaSettings

ReadTopic = Callable[[str, int, float], Awaitable[list]]


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One processor and one verifier process on their own topics, for a test module."""
    prefix = f"t{secrets.token_hex(4)}."
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=4)
    with Stack(kafka=kafka, work_dir=Path(tmp_path_factory.mktemp("stack"))) as running:
        yield running
        for worker in running.workers:
            assert worker.alive(), f"{worker.role} died:\n{worker.log_tail()}"


async def read_records(kafka: KafkaSettings, topic: str, at_least: int, timeout_s: float) -> list:
    """Records of ``topic`` from the beginning, until ``at_least`` arrived or the time is up."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka.client_options(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < at_least and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def read_topic(stack: Stack) -> Callable[[str, int, float], list]:
    """Read a topic of the stack synchronously: ``read_topic(name, at_least, timeout_s)``."""

    def read(topic: str, at_least: int, timeout_s: float = 60.0) -> list:
        return asyncio.run(read_records(stack.kafka, topic, at_least, timeout_s))

    return read
