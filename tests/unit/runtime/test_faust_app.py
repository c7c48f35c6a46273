"""The workers' Faust app: a resumed partition that never committed is read from its beginning."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from processors.agent import make_processor_app
from runtime.faust_app import RewindingConsumer, never_committed
from runtime.lean_worker import BatchDeliveryConsumer
from runtime.settings import kafka_from_env
from verifier.agent import make_verifier_app

SESSIONS_0, SESSIONS_1, SESSIONS_2 = (TopicPartition("liveness.sessions", p) for p in range(3))
CHANGELOG_0 = TopicPartition("liveness-verifier-sessions-changelog", 0)


def test_never_committed_is_no_offset_or_offset_zero() -> None:
    committed = {SESSIONS_0: None, SESSIONS_1: 0, SESSIONS_2: 17}
    assert never_committed(committed) == [SESSIONS_0, SESSIONS_1]
    assert never_committed({SESSIONS_2: 1}) == []


class _Thread:
    """What the consumer asks of its aiokafka thread, recorded."""

    def __init__(self, committed: dict[TopicPartition, int | None]) -> None:
        self.committed, self.rewound = committed, []  # type: ignore[var-annotated]

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        return self.committed

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.rewound.extend(partitions)


def _consumer(thread: _Thread) -> Any:
    consumer: Any = object.__new__(RewindingConsumer)  # only what seek_to_committed reads
    consumer._thread = thread
    consumer.app = SimpleNamespace(
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        tables=SimpleNamespace(changelog_topics={CHANGELOG_0.topic}),
    )
    return consumer


def test_seek_to_committed_rewinds_never_committed_inputs_only() -> None:
    thread = _Thread({SESSIONS_0: None, SESSIONS_1: 0, SESSIONS_2: 42, CHANGELOG_0: None})
    committed = asyncio.run(_consumer(thread).seek_to_committed())
    assert committed == thread.committed  # what Faust's perform_seek reads is unchanged
    assert thread.rewound == [SESSIONS_0, SESSIONS_1]  # not the changelog: recovery reads it


def test_seek_to_committed_all_committed_rewinds_nothing() -> None:
    thread = _Thread({SESSIONS_0: 3, SESSIONS_1: 9})
    asyncio.run(_consumer(thread).seek_to_committed())
    assert thread.rewound == []


def test_workers_consume_with_the_rewinding_consumer() -> None:
    kafka = kafka_from_env({"LIVENESS_BOOTSTRAP": "127.0.0.1:1"})
    for app in (make_verifier_app(kafka, None), make_processor_app(kafka)):
        assert issubclass(type(app.transport).Consumer, RewindingConsumer)
    assert type(make_verifier_app(kafka, None).transport).Consumer is BatchDeliveryConsumer
