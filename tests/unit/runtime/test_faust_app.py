"""The workers' Faust app: a seek back to the committed offsets loses no record, committed or not."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from processors.agent import make_processor_app
from runtime.faust_app import CountingConsumerThread, RewindingConsumer, never_committed
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


class _SeekingThread(_Thread):
    """A consumer thread whose seek is logged in ``timeline``."""

    def __init__(self, committed: dict[TopicPartition, int | None], timeline: list[str]) -> None:
        super().__init__(committed)
        self.timeline = timeline

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        self.timeline.append("seek")
        return self.committed


def _seeking_consumer(timeline: list[str], fetches_in_flight: int) -> Any:
    consumer = _consumer(_SeekingThread({SESSIONS_0: 7}, timeline))
    consumer.app.flow_control = SimpleNamespace(clear=lambda: timeline.append("queues cleared"))
    consumer.flow_active = True
    consumer.can_resume_flow, consumer.suspend_flow = asyncio.Event(), asyncio.Event()
    consumer._read_offset, consumer._committed_offset = {SESSIONS_0: 40}, {}
    consumer.fetches_in_flight = fetches_in_flight
    return consumer


def test_perform_seek_moves_positions_only_once_nothing_is_in_flight() -> None:
    """Flow stopped, the fetch under way returned, queued records dropped: then the seek."""
    timeline: list[str] = []
    consumer = _seeking_consumer(timeline, fetches_in_flight=1)

    async def fetch_returns() -> None:
        await asyncio.sleep(0.05)
        timeline.append(f"fetch returned (flow active: {consumer.flow_active})")
        consumer.fetches_in_flight = 0

    async def scenario() -> None:
        await asyncio.gather(consumer.perform_seek(), fetch_returns())

    asyncio.run(scenario())
    assert timeline == ["fetch returned (flow active: False)", "queues cleared", "seek"]
    assert consumer.suspend_flow.is_set() and not consumer.flow_active  # recovery resumes it
    assert consumer._read_offset[SESSIONS_0] == 7  # what was read is read again from the commit


def test_a_seek_asked_for_during_a_seek_is_the_same_seek() -> None:
    timeline: list[str] = []
    consumer = _seeking_consumer(timeline, fetches_in_flight=1)

    async def scenario() -> None:
        first = asyncio.create_task(consumer.perform_seek())
        await asyncio.sleep(0.02)
        await consumer.perform_seek()  # a fetch came back while the flow was stopped
        consumer.fetches_in_flight = 0
        await first

    asyncio.run(scenario())
    assert timeline.count("seek") == 1


def test_workers_count_their_fetches_under_way() -> None:
    kafka = kafka_from_env({"LIVENESS_BOOTSTRAP": "127.0.0.1:1"})
    for app in (make_verifier_app(kafka, None), make_processor_app(kafka)):
        assert type(app.consumer._thread) is CountingConsumerThread
