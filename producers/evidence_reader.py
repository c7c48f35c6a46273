"""Read reference and audit images on the evidence topic (written by processors/agent.py).

The evidence topic has the deployment's partition count (``LIVENESS_PARTITIONS``, like every
session-keyed topic). Every record of a session lies on its session's partition (the partition
its decision and its frames are on), keyed ``<session_id>/<seq>`` or ``<session_id>/reference``; deleting is a
tombstone per key, so readers read on to the end of the partition and honour them before
compaction removes the records themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from runtime.settings import KafkaSettings

_FETCH_BYTES = 3 * 1024 * 1024  # one evidence record: a frame (<= 2 MiB) and its headers


@dataclass(frozen=True)
class EvidenceImage:
    """One stored image: its id (record key), the JPEG and what the processor measured."""

    key: str
    jpeg: bytes
    headers: dict[str, str]
    partition: int
    offset: int


def session_partition(session_id: str, partitions: int) -> int:
    """The partition a record keyed by ``session_id`` goes to (Kafka's default murmur2 partitioner)."""
    all_partitions = list(range(partitions))
    return int(DefaultPartitioner()(session_id.encode(), all_partitions, all_partitions))


def evidence_consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **kafka.client_options(),
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=_FETCH_BYTES,
        fetch_max_bytes=_FETCH_BYTES * 4,
    )


async def latest_images(
    consumer: AIOKafkaConsumer, tps: Iterable[TopicPartition], prefix: str | None
) -> dict[str, EvidenceImage | None]:
    """The latest record per key (None: a tombstone) from each partition's position to its end."""
    tps = list(tps)
    ends = await consumer.end_offsets(tps)
    latest: dict[str, EvidenceImage | None] = {}
    pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=1000)
        for records in batches.values():
            for record in records:
                key = (record.key or b"").decode(errors="replace")
                if prefix is None or key.startswith(prefix):
                    latest[key] = _image(key, record) if record.value is not None else None
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    return latest


def _image(key: str, record: object) -> EvidenceImage:
    headers = {name: value.decode(errors="replace") for name, value in record.headers}  # type: ignore[attr-defined]
    return EvidenceImage(key, record.value, headers, record.partition, record.offset)  # type: ignore[attr-defined]


async def read_session_evidence(
    kafka: KafkaSettings, session_id: str, since_ms: int | None = None
) -> dict[str, EvidenceImage]:
    """The session's stored images by id; ``since_ms`` (a little before its decision) skips older ones."""
    consumer = evidence_consumer(kafka)
    await consumer.start()
    try:
        topic = kafka.topics.evidence
        tp = TopicPartition(topic, session_partition(session_id, kafka.partitions))
        consumer.assign([tp])
        start = (await consumer.offsets_for_times({tp: since_ms})).get(tp) if since_ms is not None else None
        if start is not None:
            consumer.seek(tp, start.offset)
        elif since_ms is None:
            await consumer.seek_to_beginning(tp)
        else:
            return {}  # nothing written since
        latest = await latest_images(consumer, [tp], f"{session_id}/")
    finally:
        await consumer.stop()
    return {key: image for key, image in latest.items() if image is not None}
