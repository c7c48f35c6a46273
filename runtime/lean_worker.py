"""What the verifier's Faust worker spends less on per record than Faust's defaults.

- ``BatchDeliveryConsumer``: faust-streaming 0.15.3 delivers every record it fetched through
  ``Service.wait_first``, racing the delivery against the consumer's flow being suspended (a
  rebalance), its stop and its crash: four tasks created, three of them cancelled, and an
  ``asyncio.wait`` per record. On the verifier worker that bookkeeping cost about as much CPU
  as the decision itself. This consumer runs the same race once per fetched batch: the records
  of the batch are delivered in order, one after the other, inside one task, and a rebalance,
  stop or crash cancels that task at the record it has reached, as it cancelled the one
  record's task before. A record not delivered is not marked read, and is fetched again after
  the rebalance's seek to the committed offsets, as before. Only ``_drain_messages`` differs
  from Faust's (``faust/transport/consumer.py``, pinned in pyproject.toml); what it does per
  record (read offsets, gaps for acking topics, commits every ``broker_commit_every``) is
  Faust's own.
- ``OffsetsMonitor``: Faust's monitor sensor without its per-record timings.
- ``settle_garbage_collector``: a worker allocates a few containers per record; with Python's
  default thresholds the collector ran hundreds of times a minute and its full passes walked
  every object of the imported modules too.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

from faust.sensors import Monitor
from faust.transport.consumer import CONSUMER_FETCHING

from runtime.faust_app import RewindingConsumer, RewindingTransport, WorkerApp

# Faust's own fairness: hand the loop to other tasks (timers, the web server) every so many records.
YIELD_EVERY_RECORDS = 100


class BatchDeliveryConsumer(RewindingConsumer):
    """The workers' consumer (``runtime.faust_app``), with one delivery task per fetched batch."""

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
        """Each record of one fetch to its streams, in order (Faust's per-record steps, unchanged)."""
        callback, read_offset = self.callback, self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0
        async for tp, message in records:
            since_yield += 1
            if since_yield > YIELD_EVERY_RECORDS:
                await asyncio.sleep(0)
                since_yield = 0
            offset, last = message.offset, read_offset[tp]
            if last is not None and offset < last:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                continue
            if last and offset - last > 1 and acks_enabled_for(message.topic):
                await self._add_gap(tp, last + 1, offset)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()
            await callback(message)
            read_offset[tp] = offset


class BatchDeliveryTransport(RewindingTransport):
    """The workers' transport, whose consumer is ``BatchDeliveryConsumer``."""

    Consumer = BatchDeliveryConsumer


class BatchDeliveryApp(WorkerApp):
    """The workers' app, reading with ``BatchDeliveryConsumer``."""

    transport_class = BatchDeliveryTransport


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
    as long as the process anyway).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
