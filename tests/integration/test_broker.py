"""The local Kafka broker and the topic admin against it: start-up, topics, an idempotent round trip."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from devtools.broker import BrokerConfig, BrokerStartError, LocalBroker, free_ports
from liveness.topics_admin import TopicMismatchError, delete_topics, ensure_topics
from runtime.topics import TopicSpec

# Every await on the broker is bounded, so a broken broker fails a test instead of hanging CI.
_TEST_TIMEOUT_S = 60
_MIB = 1024 * 1024


async def _describe(bootstrap: str, names: list[str]) -> dict[str, dict]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: t for t in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def _topic_config(bootstrap: str, name: str, key: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        resource = ConfigResource(ConfigResourceType.TOPIC, name, {key: None})
        [response] = await admin.describe_configs([resource])
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = response.resources
    return {entry[0]: entry[1] for entry in entries}[key]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.integration
@pytest.mark.slow
async def test_local_broker_cold_then_warm_start_serves_topics_at_once(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    port, controller_port = free_ports(2)
    config = BrokerConfig(data_dir=tmp_path / "kafka", port=port, controller_port=controller_port)
    topic = TopicSpec("kept", partitions=4)
    for run in ("cold", "warm"):
        broker = LocalBroker(config)
        await asyncio.to_thread(broker.start)
        pid = broker.pid
        assert pid is not None and _alive(pid)
        assert broker.bootstrap == f"127.0.0.1:{port}"
        assert config.pid_file.read_text().strip() == str(pid)
        try:
            async with asyncio.timeout(_TEST_TIMEOUT_S):
                # Right after start() returns, with no retry: that is the readiness promise.
                await ensure_topics(broker.bootstrap, [topic])
                assert len((await _describe(broker.bootstrap, ["kept"]))["kept"]["partitions"]) == 4
        finally:
            await asyncio.to_thread(broker.stop)
        assert broker.startup_s is not None
        record_property(f"startup_{run}_s", round(broker.startup_s, 2))
        print(f"{run} start-up: {broker.startup_s:.2f} s")
        assert not _alive(pid)
        assert not config.pid_file.exists()


def test_local_broker_port_in_use_fails_fast_with_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(BrokerConfig(data_dir=tmp_path, port=port, controller_port=free_ports(1)[0]))
        started = time.monotonic()
        with pytest.raises(BrokerStartError, match=f"port {port} .* already in use"):
            broker.start()
    assert time.monotonic() - started < 1
    assert broker.pid is None


@pytest.mark.integration
async def test_ensure_topics_four_partitions_is_idempotent_and_checks_counts(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    names = [f"{unique_prefix}frames", f"{unique_prefix}decisions"]
    specs = [TopicSpec(name, partitions=4, config={"retention.ms": "3600000"}) for name in names]
    async with asyncio.timeout(_TEST_TIMEOUT_S):
        try:
            await ensure_topics(kafka_bootstrap, specs)
            await ensure_topics(kafka_bootstrap, specs)
            described = await _describe(kafka_bootstrap, names)
            for name in names:
                partitions = described[name]["partitions"]
                assert sorted(p["partition"] for p in partitions) == [0, 1, 2, 3]
                assert all(p["leader"] == 1 for p in partitions)
            assert await _topic_config(kafka_bootstrap, names[0], "retention.ms") == "3600000"
            with pytest.raises(TopicMismatchError, match="4 partitions, 2 wanted"):
                await ensure_topics(kafka_bootstrap, [TopicSpec(names[0], partitions=2)])
        finally:
            await delete_topics(kafka_bootstrap, names)
        # Deleting what is gone is not an error (clean-up after a failed test).
        await delete_topics(kafka_bootstrap, names)


@pytest.mark.integration
async def test_idempotent_producer_round_trip_through_consumer_group_keeps_key_order(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    topic = f"{unique_prefix}round-trip"
    sent = {f"session-{k}".encode(): [f"frame-{k}-{seq}".encode() for seq in range(5)] for k in range(8)}
    async with asyncio.timeout(_TEST_TIMEOUT_S):
        await ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=4)])
        try:
            producer = AIOKafkaProducer(
                bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
            )
            await producer.start()
            try:
                for seq in range(5):
                    for key, values in sent.items():
                        await producer.send(topic, values[seq], key=key)
                await producer.flush()
            finally:
                await producer.stop()
            received, partitions_of = await _consume(kafka_bootstrap, topic, f"{unique_prefix}group", 40)
        finally:
            await delete_topics(kafka_bootstrap, [topic])
    assert received == sent
    # Keyed records stay on one partition: what co-partitioning of session topics relies on.
    assert all(len(parts) == 1 for parts in partitions_of.values())
    assert len({p for parts in partitions_of.values() for p in parts}) > 1


async def _consume(
    bootstrap: str, topic: str, group_id: str, count: int
) -> tuple[dict[bytes, list[bytes]], dict[bytes, set[int]]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: dict[bytes, list[bytes]] = defaultdict(list)
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    try:
        for _ in range(count):
            record = await consumer.getone()
            received[record.key].append(record.value)
            partitions_of[record.key].add(record.partition)
        await consumer.commit()
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in range(4)]
        assert sum(offset or 0 for offset in committed) == count
    finally:
        await consumer.stop()
    return dict(received), dict(partitions_of)


@pytest.mark.integration
async def test_frame_of_1_5_mib_passes_the_raised_message_limit(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    topic = f"{unique_prefix}frames"
    frame = os.urandom(3 * _MIB // 2)
    async with asyncio.timeout(_TEST_TIMEOUT_S):
        await ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=1)])
        try:
            # The producer's own limit (1 MB by default) must be raised to the broker's 2 MiB too.
            producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2 * _MIB)
            await producer.start()
            try:
                await producer.send_and_wait(topic, frame, key=b"session")
            finally:
                await producer.stop()
            consumer = AIOKafkaConsumer(
                topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
            )
            await consumer.start()
            try:
                record = await consumer.getone()
            finally:
                await consumer.stop()
        finally:
            await delete_topics(kafka_bootstrap, [topic])
    assert record.value == frame
