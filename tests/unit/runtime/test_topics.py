"""Topic layout: every pipeline topic and the changelog get the configured replication."""

from __future__ import annotations

import pytest

from runtime.settings import KafkaSettings
from runtime.topics import FRAMES_CONFIG, topic_specs


def test_topic_specs_single_node_one_replica_no_min_isr_config() -> None:
    specs = topic_specs(KafkaSettings())
    assert {s.replication_factor for s in specs} == {1}
    assert all("min.insync.replicas" not in s.config for s in specs)


def test_topic_specs_replicated_every_topic_three_replicas_two_in_sync() -> None:
    specs = topic_specs(KafkaSettings(replication_factor=3, min_insync_replicas=2))
    assert {s.replication_factor for s in specs} == {3}
    assert {s.config["min.insync.replicas"] for s in specs} == {"2"}
    assert any(s.name.endswith("-changelog") and s.config["cleanup.policy"] == "compact" for s in specs)
    frames = next(s for s in specs if s.name.endswith(".frames"))
    assert FRAMES_CONFIG.items() <= frames.config.items()


def test_topic_specs_min_isr_above_replicas_refused() -> None:
    with pytest.raises(ValueError, match="min.insync.replicas"):
        topic_specs(KafkaSettings(replication_factor=1, min_insync_replicas=2))


def test_topic_specs_every_topic_prefixed_distinct_and_one_partition_count() -> None:
    kafka = KafkaSettings(topic_prefix="t1.", partitions=6)
    specs = topic_specs(kafka, verifier_app_id="t1.liveness-verifier")
    names = [s.name for s in specs]
    assert all(name.startswith("t1.") for name in names)
    assert len(set(names)) == len(names) == 9
    assert {s.partitions for s in specs} == {6}
    assert kafka.topics.dead_letters in names and "t1.t1.liveness-verifier-ticks" in names


def test_frame_limit_one_value_for_the_frames_topic_the_evidence_topic_and_the_publisher() -> None:
    from schemas.limits import MAX_FRAME_RECORD_BYTES

    specs = {s.name: s for s in topic_specs(KafkaSettings())}
    assert specs["liveness.frames"].config["max.message.bytes"] == str(MAX_FRAME_RECORD_BYTES)
    assert int(specs["liveness.evidence"].config["max.message.bytes"]) > MAX_FRAME_RECORD_BYTES
    assert MAX_FRAME_RECORD_BYTES == 2 * 1024 * 1024
