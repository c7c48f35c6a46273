"""Read and delete reference and audit images on the evidence topic (written by processors/agent.py).

The evidence topic has the deployment's partition count (``LIVENESS_PARTITIONS``, like every
session-keyed topic). Every record of a session lies on its session's partition (the partition
its decision and its frames are on), keyed ``<session_id>/<seq>`` or ``<session_id>/reference``; deleting is a
tombstone per key, so readers read on to the end of the partition and honour them before
compaction removes the records themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from liveness.config import KafkaSettings

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


def _consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **kafka.client_options(),
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=_FETCH_BYTES,
        fetch_max_bytes=_FETCH_BYTES * 4,
    )


async def _latest(
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
    consumer = _consumer(kafka)
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
        latest = await _latest(consumer, [tp], f"{session_id}/")
    finally:
        await consumer.stop()
    return {key: image for key, image in latest.items() if image is not None}


async def delete_user_evidence(kafka: KafkaSettings, tenant: str, user_ref_digest: str) -> list[str]:
    """Tombstone every stored image of the user's sessions; returns the ids deleted."""
    consumer = _consumer(kafka)
    await consumer.start()
    try:
        topic = kafka.topics.evidence
        tps = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        latest = await _latest(consumer, tps, None)
    finally:
        await consumer.stop()
    doomed = [
        image
        for image in latest.values()
        if image is not None
        and image.headers.get("tenant") == tenant
        and image.headers.get("user_ref") == user_ref_digest
    ]
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all")
    await producer.start()
    try:
        for image in doomed:
            await producer.send_and_wait(topic, key=image.key.encode(), value=None, partition=image.partition)
    finally:
        await producer.stop()
    return sorted(image.key for image in doomed)


def write_images(images: dict[str, EvidenceImage], out_dir: Path) -> list[Path]:
    """Write each image as ``<seq or reference>.jpg`` with a JSON sidecar of its headers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, image in sorted(images.items()):
        name = key.rsplit("/", 1)[-1]
        path = out_dir / f"{name}.jpg"
        path.write_bytes(image.jpeg)
        (out_dir / f"{name}.json").write_bytes(orjson.dumps(image.headers, option=orjson.OPT_INDENT_2))
        written.append(path)
    return written
