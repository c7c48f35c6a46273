"""The ``liveness evidence`` tools: write a session's stored images to files, erase a user's images.

Reading the evidence topic is ``producers/evidence_reader.py`` (the gateway reads it too);
deleting is a tombstone per key, which every reader honours.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from producers.evidence_reader import EvidenceImage, evidence_consumer, latest_images
from runtime.settings import KafkaSettings


async def delete_user_evidence(kafka: KafkaSettings, tenant: str, user_ref_digest: str) -> list[str]:
    """Tombstone every stored image of the user's sessions; returns the ids deleted."""
    consumer = evidence_consumer(kafka)
    await consumer.start()
    try:
        topic = kafka.topics.evidence
        tps = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        latest = await latest_images(consumer, tps, None)
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
