"""Consumers without a group that follow topics from the moment they start."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer


async def start_at_end(consumer: AIOKafkaConsumer, timeout_s: float) -> None:
    """Start ``consumer`` and pin every assigned partition at its current end.

    Resolving the positions now, rather than at the first fetch, means a record
    published after this returns is seen: callers start it before they publish.
    """
    await consumer.start()
    async with asyncio.timeout(timeout_s):
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        for partition in consumer.assignment():
            await consumer.position(partition)
