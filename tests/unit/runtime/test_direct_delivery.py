"""Direct delivery: fetched input records reach the handler in batches, acknowledged only after it."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types.tuples import TP, ConsumerMessage

from runtime.lean_worker import DIRECT_BATCHES_AHEAD, BatchDeliveryConsumer, DirectDelivery
from runtime.settings import kafka_from_env
from runtime.topics import VERIFIER_APP_ID, ticks_topic_name
from verifier.agent import VerifierWorkerSettings, make_verifier_app

INPUT, OTHER = "liveness.observations", "liveness-verifier-sessions-changelog"
GENERATION = 3


def message(topic: str, partition: int, offset: int, generation: int = GENERATION) -> ConsumerMessage:
    tp = TP(topic, partition)
    return ConsumerMessage(
        topic, partition, offset, 0.0, 0, None, b"k", b"v", None, tp=tp, generation_id=generation
    )


class Handler:
    """A direct handler that records each batch and what was acknowledged when it got it."""

    def __init__(self, consumer: Any) -> None:
        self.consumer, self.batches, self.acked_before = consumer, [], []  # type: ignore[var-annotated]

    async def __call__(self, records: Sequence[Any]) -> None:
        self.acked_before.append(sum(len(v) for v in self.consumer._acked.values()))
        self.batches.append([(r.message.partition, r.message.offset) for r in records])


class Conductor:
    """The callback a record of a topic not delivered directly goes to."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, int]] = []

    async def __call__(self, message: ConsumerMessage) -> None:
        self.delivered.append((message.topic, message.offset))


def consumer_with(max_records: int, flow_active: bool = True) -> tuple[Any, Handler, Conductor]:
    """A consumer holding only the state ``_deliver``, ``_hand_over``, ``track_message`` and ``ack`` use."""
    consumer: Any = object.__new__(BatchDeliveryConsumer)
    conductor = Conductor()
    handler = Handler(consumer)
    consumer.app = SimpleNamespace(
        direct_delivery=DirectDelivery(frozenset({INPUT}), handler, max_records),
        topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        consumer_generation_id=GENERATION,
        flow_control=SimpleNamespace(is_active=lambda: flow_active),
    )
    consumer.callback = conductor
    consumer.flow_active = flow_active
    consumer._commit_every = None
    consumer._n_acked = 0
    consumer._read_offset = defaultdict(lambda: None)
    consumer._committed_offset = defaultdict(lambda: None)
    consumer._acked, consumer._acked_index = defaultdict(list), defaultdict(set)
    consumer._unacked_messages, consumer._waiting_for_ack = set(), None
    consumer._gap = defaultdict(list)
    consumer._on_message_in = lambda tp, offset, message: None
    consumer.log = SimpleNamespace(dev=lambda *args: None)
    consumer._direct_batches = asyncio.Queue()
    consumer._direct_room = asyncio.Semaphore(DIRECT_BATCHES_AHEAD)
    return consumer, handler, conductor


async def fetch(messages: list[ConsumerMessage]) -> AsyncIterator[tuple[TP, ConsumerMessage]]:
    for m in messages:
        yield m.tp, m


async def deliver_and_process(consumer: Any, messages: list[ConsumerMessage]) -> None:
    """What the fetcher and the batch processor do with one fetch, the processor keeping up."""
    fetched = asyncio.ensure_future(consumer._deliver(fetch(messages)))
    while not (fetched.done() and consumer._direct_batches.empty()):
        if consumer._direct_batches.empty():
            await asyncio.sleep(0)
            continue
        direct, batch = consumer._direct_batches.get_nowait()
        await consumer._process(direct, batch)
        consumer._direct_room.release()
    await fetched


async def test_direct_records_reach_handler_in_fetch_order_in_batches_of_max() -> None:
    consumer, handler, conductor = consumer_with(max_records=2)
    fetched = [message(INPUT, p, o) for o in (10, 11) for p in (0, 1)] + [message(INPUT, 0, 12)]
    await deliver_and_process(consumer, fetched)
    assert handler.batches == [[(0, 10), (1, 10)], [(0, 11), (1, 11)], [(0, 12)]]
    assert conductor.delivered == []


async def test_direct_batch_acknowledged_only_after_its_handler_returns() -> None:
    consumer, handler, _ = consumer_with(max_records=2)
    await deliver_and_process(consumer, [message(INPUT, 0, o) for o in range(5)])
    assert handler.acked_before == [0, 2, 4]  # a batch's own records are not acked when it runs
    assert consumer._acked[TP(INPUT, 0)] == [0, 1, 2, 3, 4]
    assert not consumer._unacked_messages
    assert consumer._read_offset[TP(INPUT, 0)] == 4


async def test_direct_other_topics_go_to_the_conductor_after_the_batch_before_them() -> None:
    consumer, handler, conductor = consumer_with(max_records=10)
    fetched = [message(INPUT, 0, 1), message(OTHER, 0, 7), message(INPUT, 0, 2)]
    await deliver_and_process(consumer, fetched)
    assert handler.batches == [[(0, 1)], [(0, 2)]]
    assert conductor.delivered == [(OTHER, 7)]


async def test_direct_records_older_than_the_read_offset_are_dropped() -> None:
    consumer, handler, _ = consumer_with(max_records=10)
    consumer._read_offset[TP(INPUT, 0)] = 5
    await deliver_and_process(consumer, [message(INPUT, 0, o) for o in (4, 5, 6)])
    assert handler.batches == [[(0, 5), (0, 6)]]


async def test_direct_records_of_a_suspended_flow_are_neither_handled_nor_read() -> None:
    consumer, handler, _ = consumer_with(max_records=10, flow_active=False)
    await deliver_and_process(consumer, [message(INPUT, 0, o) for o in range(3)])
    assert handler.batches == []
    assert consumer._read_offset[TP(INPUT, 0)] is None  # fetched again after the seek
    assert not consumer._unacked_messages


async def test_direct_records_of_an_older_generation_are_neither_handled_nor_read() -> None:
    consumer, handler, _ = consumer_with(max_records=10)
    await deliver_and_process(consumer, [message(INPUT, 0, o, generation=GENERATION - 1) for o in range(3)])
    assert handler.batches == []
    assert consumer._read_offset[TP(INPUT, 0)] is None


async def test_direct_delivery_waiting_for_room_hands_over_nothing_when_cancelled() -> None:
    consumer, handler, _ = consumer_with(max_records=1)
    records = [message(INPUT, 0, o) for o in range(DIRECT_BATCHES_AHEAD + 2)]
    fetched = asyncio.ensure_future(consumer._deliver(fetch(records)))
    for _ in range(DIRECT_BATCHES_AHEAD + 10):
        await asyncio.sleep(0)
    fetched.cancel()  # a rebalance: the processor has taken nothing, the fetcher waits for room
    await asyncio.gather(fetched, return_exceptions=True)
    assert consumer._direct_batches.qsize() == DIRECT_BATCHES_AHEAD
    assert len(consumer._unacked_messages) == DIRECT_BATCHES_AHEAD  # the rebalance waits for these
    assert consumer._read_offset[TP(INPUT, 0)] == DIRECT_BATCHES_AHEAD - 1  # the rest is read again


async def test_direct_handler_failure_leaves_its_batch_unacknowledged() -> None:
    consumer, _, _ = consumer_with(max_records=10)
    crashed: list[BaseException] = []

    async def crash(exc: BaseException) -> None:
        crashed.append(exc)

    async def failing(records: Sequence[Any]) -> None:
        raise RuntimeError("store down")

    consumer.crash = crash
    direct = DirectDelivery(frozenset({INPUT}), failing, 10)
    with pytest.raises(RuntimeError):
        await consumer._process(direct, [message(INPUT, 0, 1)])
    assert crashed and not consumer._acked


def test_verifier_app_delivers_its_three_inputs_directly() -> None:
    kafka = kafka_from_env({"LIVENESS_BOOTSTRAP": "127.0.0.1:1"})
    app: Any = make_verifier_app(kafka, None)
    ticks = ticks_topic_name(kafka, VERIFIER_APP_ID)
    assert app.direct_delivery.topics == {kafka.topics.sessions, kafka.topics.observations, ticks}
    assert app.direct_delivery.max_records == VerifierWorkerSettings().batch_max_events
