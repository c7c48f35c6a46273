"""The Faust app every worker runs on (processor, verifier): its shared options and its consumer.

``WorkerApp`` is ``faust.App`` with one repair in how the consumer resumes after a rebalance.
Faust resumes the input partitions, then seeks them back to their committed offsets, so
whatever it fetched in between and dropped is read again. A partition with no committed offset
(nothing ever committed there, or offset 0) was not sought at all: records fetched in that gap
were lost, and with them, for instance, the session starts a restarted verifier had not yet
committed, which left those sessions undecided. Such a partition is now sought to its beginning,
which is where the group's ``earliest`` reset policy starts it anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

if TYPE_CHECKING:
    from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)
Partition = TypeVar("Partition")


def common_app_options(kafka: KafkaSettings, web_port: int | None) -> dict[str, Any]:
    """Faust settings shared by the processor and the verifier."""
    return {
        **kafka.faust_options(),
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # Batch what an event emits (observation, table changelog, decision) instead of one
        # request per record: a few ms of linger cut the verifier's CPU per event several-fold.
        "producer_linger": 0.005,
        # Faust's default (60 s) leaves a crashed worker's partitions unread for a minute before the
        # group gives them to another member; 15 s bounds that stall (and the decisions it delays).
        "broker_session_timeout": 15.0,
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_host": "127.0.0.1",
    }


def never_committed(committed: Mapping[Partition, int | None]) -> list[Partition]:
    """The partitions whose committed offset says nothing was consumed yet (none, or 0)."""
    return [tp for tp, offset in committed.items() if offset is None or offset <= 0]


class RewindingConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer; seeking to the committed offsets also rewinds never-committed inputs."""

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
