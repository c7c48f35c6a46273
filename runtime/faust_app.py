"""The Faust app every worker runs on (processor, verifier): its shared options and its consumer.

``WorkerApp`` is ``faust.App`` with one repair in how the consumer resumes after a rebalance.
Faust resumes the input partitions, then seeks them back to their committed offsets, so
whatever it fetched in between and dropped is read again. A partition with no committed offset
(nothing ever committed there, or offset 0) was not sought at all: records fetched in that gap
were lost, and with them, for instance, the session starts a restarted verifier had not yet
committed, which left those sessions undecided. Such a partition is now sought to its beginning,
which is where the group's ``earliest`` reset policy starts it anyway.

A second repair makes that seek safe when the worker had a table to restore. Faust then starts
fetching during the restore and leaves the flow running while it resumes the input partitions
and seeks them; records delivered to the agents' queues in that window were dropped when Faust
cleared the queues right after the seek, and never read again, since the seek had already
happened. A verifier restarted that way lost runs of records on some partitions (starts,
observations), and their sessions ended undecided or timed out. The seek now stops the flow,
waits for the fetch under way in the consumer thread to return, empties the queues and only
then moves the positions back; Faust resumes the flow afterwards, as it always did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

if TYPE_CHECKING:
    from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)
Partition = TypeVar("Partition")
# How long a seek waits for the consumer thread's fetch under way (Faust fetches with a 1-s timeout).
FETCH_RETURN_WAIT_S = 5.0


def common_app_options(
    kafka: KafkaSettings, web_port: int | None, producer_linger_s: float
) -> dict[str, Any]:
    """Faust settings shared by the processor and the verifier.

    ``producer_linger_s``: how long the producer gathers records into one request. Each worker
    picks its own (``ProcessorSettings``, ``VerifierWorkerSettings``): every record waits that
    long on its way to a decision, and a few ms cut the verifier's CPU per event several-fold
    against one request per record.
    """
    return {
        **kafka.faust_options(),
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "producer_linger": producer_linger_s,
        # Faust's default (60 s) leaves a crashed worker's partitions unread for a minute before the
        # group gives them to another member; 15 s bounds that stall (and the decisions it delays).
        "broker_session_timeout": 15.0,
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_host": "127.0.0.1",
    }


async def in_ready_batches(
    stream: faust.StreamT, most: int, handle: Callable[[Sequence[Any]], Awaitable[None]]
) -> None:
    """Hand ``handle`` the stream's events in batches: every event that arrived while it was busy
    with the last batch, up to ``most``; the first event of a quiet stream at once.

    A batch window (``take_events``) makes a lone event wait out the window, and leaves the
    handler idle meanwhile; this takes what is there. Each batch is acknowledged after
    ``handle`` returns, so an event is committed only once it is handled; the events of a
    partition are handled in their order.
    """
    manual = stream.noack()  # type: ignore[attr-defined]  # in faust.Stream, not in its stub
    arrived: asyncio.Queue[Any] = asyncio.Queue(maxsize=2 * most)

    async def handle_arrivals() -> None:
        while True:
            events = [await arrived.get()]
            while len(events) < most and not arrived.empty():
                events.append(arrived.get_nowait())
            await handle(events)
            for event in events:
                await manual.ack(event)

    # The group ends the agent if handling fails, as an error of the agent's own would.
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(handle_arrivals())
        async for event in manual.events():
            await arrived.put(event)


def never_committed(committed: Mapping[Partition, int | None]) -> list[Partition]:
    """The partitions whose committed offset says nothing was consumed yet (none, or 0)."""
    return [tp for tp, offset in committed.items() if offset is None or offset <= 0]


class CountingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, counting its fetches under way (a seek waits for them).

    A fetch that returns after the positions were moved back would still have moved them past
    what it drained, whether or not anyone is left to receive its records.
    """

    async def _fetch_records(self, *args: Any, **kwargs: Any) -> Any:
        consumer: Any = self.consumer  # a RewindingConsumer
        consumer.fetches_in_flight += 1  # an int bumped under the GIL; read from the worker's loop
        try:
            return await super()._fetch_records(*args, **kwargs)
        finally:
            consumer.fetches_in_flight -= 1


class RewindingConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer whose seek to the committed offsets loses nothing in flight.

    It also rewinds never-committed inputs (see the module's docstring).
    """

    fetches_in_flight = 0
    _seeking = False

    def _new_consumer_thread(self) -> Any:
        return CountingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        """Stop the flow, let the fetch under way return, empty the agents' queues, then seek.

        Every caller resumes the flow afterwards (recovery), or had stopped it (a fetch that
        came back while the flow was stopped asks for this seek itself, and is answered by the
        seek already under way).
        """
        if self._seeking:
            return
        self._seeking = True
        try:
            self.stop_flow()
            await self._fetches_returned()
            self.app.flow_control.clear()  # delivered, not yet taken: read again after the seek
            await super().perform_seek()
        finally:
            self._seeking = False

    async def _fetches_returned(self) -> None:
        deadline = time.monotonic() + FETCH_RETURN_WAIT_S
        while self.fetches_in_flight > 0:
            if time.monotonic() > deadline:
                log.warning("seeking with %d fetches still under way", self.fetches_in_flight)
                return
            await asyncio.sleep(0.01)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        committed = await super().seek_to_committed()
        inputs = {tp: offset for tp, offset in committed.items() if self._is_input(tp.topic)}
        rewind = never_committed(inputs)
        if rewind:
            log.info("reading %d never-committed input partitions from their beginning", len(rewind))
            await self._thread.seek_to_beginning(*rewind)
        return committed

    def _is_input(self, topic: str) -> bool:
        """A topic an agent reads and commits; table changelogs are read by Faust's own recovery."""
        app = self.app
        return bool(app.topics.acks_enabled_for(topic)) and topic not in app.tables.changelog_topics


class RewindingTransport(faust_aiokafka.Transport):
    Consumer = RewindingConsumer


class WorkerApp(faust.App):
    """``faust.App`` whose consumer loses nothing when it resumes a never-committed partition."""

    #: The transport whose consumer the app reads with; a subclass of ``RewindingTransport``.
    transport_class: type[RewindingTransport] = RewindingTransport

    def _new_transport(self) -> Any:
        return self.transport_class(self.conf.broker_consumer, self)
