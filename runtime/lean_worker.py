"""What the verifier's Faust worker spends less on per record than Faust's defaults.

- ``BatchDeliveryConsumer``: faust-streaming 0.15.3 delivers every record it fetched through
  ``Service.wait_first``, racing the delivery against the consumer's flow being suspended (a
  rebalance), its stop and its crash: four tasks created, three of them cancelled, and an
  ``asyncio.wait`` per record. On the verifier worker that bookkeeping cost about as much CPU
  as the decision itself. This consumer runs the same race once per fetched batch: the records
  of the batch are delivered in order, one after the other, inside one task, and a rebalance,
  stop or crash cancels that task at the record it has reached. A record not delivered is not
  marked read, and is fetched again after the rebalance's seek to the committed offsets. Only
  ``_drain_messages`` differs from Faust's (``faust/transport/consumer.py``, pinned in
  pyproject.toml); what it does per record (read offsets, gaps for acking topics, commits every
  ``broker_commit_every``) is Faust's own.
- Direct delivery (``BatchDeliveryApp.deliver_directly``): the records of chosen topics skip
  the conductor, the topic's channel queue and the agent's stream (an event object, a queue
  put and get, the stream's per-event sensors and a batching buffer per record) and go, in
  fetch order, in batches of up to ``max_records``, straight to a handler. One task of the
  consumer runs the handler, batch after batch; the fetcher hands it a bounded number of
  batches ahead, so the next fetch overlaps the batches under way (in the fetcher's own task
  the worker would sit idle through every fetch). Each record is tracked as the stream tracked
  it and acknowledged once the handler returns, so an offset is committed only after its batch
  is processed. A batch handed over is processed to its end even when a rebalance begins
  meanwhile (as an agent's batch under way is: the rebalance waits for every tracked record to
  be acknowledged); the records not yet handed over are left unread and are fetched again
  after the rebalance's seek to the committed offsets. The topics keep their agent, so the
  consumer subscribes to them and Faust's tables, recovery and rebalances are unchanged.
- ``OffsetsMonitor``: Faust's monitor sensor without its per-record timings.
- ``settle_garbage_collector`` (the processor calls it too): a worker allocates a few containers
  per record; with Python's default thresholds the collector ran hundreds of times a minute and
  its full passes walked every object of the imported modules too.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faust.sensors import Monitor
from faust.transport.consumer import CONSUMER_FETCHING
from mode import Service

from runtime.faust_app import RewindingConsumer, RewindingTransport, WorkerApp

log = logging.getLogger(__name__)

# Faust's own fairness: hand the loop to other tasks (timers, the web server) every so many records.
YIELD_EVERY_RECORDS = 100
# Direct batches handed over and not yet processed (``_hand_over``): enough for a whole fetch of a
# backlog (~3,000 records here), so the fetcher asks for the next fetch while the last one is being
# processed. With 2, the worker sat idle ~10-25% of a backlog run waiting for fetches (each drained
# fetch is decoded in the consumer's thread before the next is returned). The price: a rebalance
# waits for up to this many batches (~1 s on the bench machine) before it commits and revokes.
DIRECT_BATCHES_AHEAD = 8


class BatchDeliveryConsumer(RewindingConsumer):
    """The workers' consumer (``runtime.faust_app``), with one delivery task per fetched batch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Batches handed over and not yet processed, at most DIRECT_BATCHES_AHEAD of them.
        self._direct_batches: asyncio.Queue[tuple[DirectDelivery, list[Any]]] = asyncio.Queue()
        self._direct_room = asyncio.Semaphore(DIRECT_BATCHES_AHEAD)

    async def _drain_messages(self, fetcher: Any) -> None:
        """Fetch, and deliver each batch inside one task raced against suspension, stop and crash."""
        stopping = self._stopped.is_set
        fetcher_stopping = fetcher._stopped.is_set
        try:
            while not (stopping() or fetcher_stopping()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany may not give the loop up for a while
                if not self.should_stop:
                    await self.wait_first(self._deliver(records), self.suspend_flow.wait())
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, records: AsyncIterator[tuple[Any, Any]]) -> None:
        """Each record of one fetch to its streams, or to the direct handler, in order.

        Faust's per-record steps are kept: a record older than its partition's read offset is
        dropped, a jump in an acking topic's offsets is recorded as a gap, and the acknowledged
        offsets are committed every ``broker_commit_every`` records.
        """
        direct: DirectDelivery | None = getattr(self.app, "direct_delivery", None)
        callback, read_offset = self.callback, self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        batch: list[Any] = []
        reached: dict[Any, int] = {}  # offsets taken into ``batch``, read once it is handed over
        since_yield = 0
        async for tp, message in records:
            offset = message.offset
            last = reached[tp] if tp in reached else read_offset[tp]
            if last is not None and offset < last:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                continue
            if last and offset - last > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, offset)
            if direct is not None and message.topic in direct.topics:
                batch.append(message)
                reached[tp] = offset
                if len(batch) >= direct.max_records:
                    await self._hand_over(direct, batch)
                    batch, reached = [], {}
                continue
            if batch:  # the fetch's order holds across topics too
                await self._hand_over(direct, batch)  # type: ignore[arg-type]
                batch, reached = [], {}
            since_yield += 1
            if since_yield > YIELD_EVERY_RECORDS:
                await asyncio.sleep(0)
                since_yield = 0
            await self._maybe_commit()
            await callback(message)
            read_offset[tp] = offset
        if batch:
            await self._hand_over(direct, batch)  # type: ignore[arg-type]

    async def _maybe_commit(self) -> None:
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    async def _hand_over(self, direct: DirectDelivery, messages: list[Any]) -> None:
        """Queue ``messages`` for the batch processor once there is room; they are read from then on.

        Nothing is handed over once a rebalance has begun (flow stopped, or a newer generation
        than the fetch's): those records are left unread and are fetched again after the seek.
        A rebalance or stop that cancels the delivery while it waits for room hands nothing over.
        """
        await self._maybe_commit()
        await self._direct_room.acquire()  # no await from here on: handed over whole, or not at all
        app = self.app
        stale = messages[0].generation_id != app.consumer_generation_id
        if stale or not (self.flow_active and app.flow_control.is_active()):
            self._direct_room.release()
            return
        read_offset, track = self._read_offset, self.track_message
        for message in messages:
            track(message)  # from here on, a rebalance waits for its acknowledgement
            read_offset[message.tp] = message.offset
        self._direct_batches.put_nowait((direct, messages))

    @Service.task
    async def _process_direct_batches(self) -> None:
        """Run the direct handler on each queued batch, in order, each to its end.

        A separate task from the fetcher's, so the next fetch (and the decoding of its records
        in the consumer's thread) overlaps the batch under way.
        """
        batches = self._direct_batches
        while not self.should_stop:
            direct, messages = await batches.get()
            try:
                await self._process(direct, messages)
            finally:
                self._direct_room.release()

    async def _process(self, direct: DirectDelivery, messages: list[Any]) -> None:
        """Run the handler on ``messages`` and acknowledge them after it returns."""
        try:
            await direct.handle([DeliveredRecord(message) for message in messages])
        except Exception as exc:  # unacknowledged, so read again by whoever owns them next
            log.exception("direct delivery handler failed on %d records", len(messages))
            await self.crash(exc)
            raise
        ack = self.ack
        for message in messages:
            ack(message)


class DeliveredRecord:
    """One record as a direct handler gets it: Faust's message, as an event carries it.

    Weakly referenceable, so it can stand as Faust's current event (a table's partition).
    """

    __slots__ = ("message", "__weakref__")

    def __init__(self, message: Any) -> None:
        self.message = message


@dataclass(frozen=True)
class DirectDelivery:
    """Which topics' records go straight to ``handle``, and in batches of at most how many."""

    topics: frozenset[str]
    handle: Callable[[Sequence[DeliveredRecord]], Awaitable[None]]
    max_records: int


class BatchDeliveryTransport(RewindingTransport):
    """The workers' transport, whose consumer is ``BatchDeliveryConsumer``."""

    Consumer = BatchDeliveryConsumer


class BatchDeliveryApp(WorkerApp):
    """The workers' app, reading with ``BatchDeliveryConsumer``."""

    transport_class = BatchDeliveryTransport
    direct_delivery: DirectDelivery | None = None

    def deliver_directly(
        self,
        topics: frozenset[str],
        handle: Callable[[Sequence[DeliveredRecord]], Awaitable[None]],
        max_records: int,
    ) -> None:
        """Hand the records of ``topics`` to ``handle`` in batches, past their agent's stream.

        The topics' agent stays subscribed (and handles any record that still reaches it).
        """
        self.direct_delivery = DirectDelivery(topics, handle, max_records)


class OffsetsMonitor(Monitor):  # type: ignore[misc]
    """Faust's monitor sensor, keeping only the partition offsets (read, committed, end).

    Faust's ``Monitor`` times every record in and out, every stream event, send, commit and
    table access, for its ``/stats`` web page. The workers' figures are the Prometheus metrics
    (``runtime/metrics.py``), whose consumer-lag probe reads the monitor's offsets and nothing
    else; this monitor keeps those and skips the per-record timing.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.tp_read_offsets[tp] = offset

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_table_get(self, table: Any, key: Any) -> None:
        return None

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        return None

    def on_table_del(self, table: Any, key: Any) -> None:
        return None

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        return None

    def on_commit_initiated(self, consumer: Any) -> None:
        return None

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        return None


# Collections of the youngest generation every 10,000 net new containers (Python's default is 700),
# and the older generations ten times rarer each: records' containers die young by reference
# count, so a collection finds little; the sessions a verifier keeps decoded are long-lived.
GC_THRESHOLDS = (10_000, 10, 10)


def settle_garbage_collector() -> None:
    """Freeze what the worker holds after start-up (modules, the app) and collect less often.

    Measured on the verifier worker's backlog: the collector took ~9% of its CPU, most of it
    in full passes over the start-up objects; frozen, they are never walked again (they live
    as long as the process anyway). In the processor a full pass took 60-125 ms, a stall of
    every frame in flight.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
