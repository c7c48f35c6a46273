"""Server time cannot be bypassed: ``liveness topics`` checks the configs of existing topics."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from liveness.topics_admin import TopicMismatchError, create_topics, ensure_topics
from runtime.settings import KafkaSettings
from runtime.topics import FRAMES_CONFIG, TopicSpec

pytestmark = pytest.mark.integration


def test_liveness_topics_refuses_an_existing_frames_topic_with_create_time(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=unique_prefix, partitions=2)
    create_time = {**FRAMES_CONFIG, "message.timestamp.type": "CreateTime"}
    asyncio.run(ensure_topics(kafka_bootstrap, [TopicSpec(kafka.topics.frames, 2, create_time)]))
    asyncio.run(_described(kafka_bootstrap, kafka.topics.frames))
    env = {
        **os.environ,
        "LIVENESS_BOOTSTRAP": kafka_bootstrap,
        "LIVENESS_TOPIC_PREFIX": unique_prefix,
        "LIVENESS_PARTITIONS": "2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "liveness.cli", "topics"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "message.timestamp.type=CreateTime, LogAppendTime wanted" in result.stderr
    assert kafka.topics.frames in result.stderr


def test_liveness_topics_accepts_its_own_topics_on_a_second_run(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=unique_prefix, partitions=2)
    asyncio.run(create_topics(kafka))
    asyncio.run(create_topics(kafka))  # every existing topic checked, none refused


def test_ensure_topics_existing_topic_with_other_config_raises(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    name = f"{unique_prefix}x"
    asyncio.run(ensure_topics(kafka_bootstrap, [TopicSpec(name, 1, {"cleanup.policy": "delete"})]))
    asyncio.run(_described(kafka_bootstrap, name))
    with pytest.raises(TopicMismatchError, match="cleanup.policy=delete, compact wanted"):
        asyncio.run(ensure_topics(kafka_bootstrap, [TopicSpec(name, 1, {"cleanup.policy": "compact"})]))


async def _described(bootstrap: str, topic: str) -> None:
    """Wait until the broker's metadata lists the new topic's partitions (creation is asynchronous)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(30):
            while not (await admin.describe_topics([topic]))[0]["partitions"]:
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
