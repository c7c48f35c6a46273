"""Topic layout: every pipeline topic and the changelog get the configured replication."""

from __future__ import annotations

import pytest

from liveness.topology import FRAMES_CONFIG, topic_specs
from runtime.settings import KafkaSettings


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
