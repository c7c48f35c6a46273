"""Every topic a deployment has, with its partition count and configs: the one list, created up front.

The pipeline's topic names are in ``schemas/topics.py``; the verifier's own topics (the ticks it
sends itself, its table's changelog) are named here. ``liveness topics`` creates what is missing
and checks what exists (``liveness/topics_admin.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime.settings import KafkaSettings
from schemas.limits import MAX_FRAME_RECORD_BYTES

# The verifier's consumer group and Faust app id, and the name of its table of sessions: the
# changelog topic's name is made of both.
VERIFIER_APP_ID = "liveness-verifier"
VERIFIER_TABLE_NAME = "sessions"

# The broker stamps frames with its own clock on arrival: that timestamp is the
# server time every deadline is judged on, whatever the client claims.
FRAMES_CONFIG = {"message.timestamp.type": "LogAppendTime", "max.message.bytes": str(MAX_FRAME_RECORD_BYTES)}
# Frames are biometric data and only needed until their session is decided and its evidence
# copied (seconds): one hour, with hourly segments so deletion is not held up by an open segment.
# Advisory: a deployment whose frames topic keeps another retention gets a warning, not a refusal.
FRAMES_RETENTION = {"retention.ms": str(3_600_000), "segment.ms": str(3_600_000)}
COMPACTED = {"cleanup.policy": "compact"}
# Reference and audit images: compacted (a user's evidence is deleted by tombstones, key by key)
# and deleted after 30 days whatever happens; daily segments so compaction and deletion can run,
# tombstones kept one day for readers that are behind. A record is one JPEG frame plus headers.
EVIDENCE_CONFIG = {
    "cleanup.policy": "compact,delete",
    "retention.ms": str(30 * 86_400_000),
    "segment.ms": str(86_400_000),
    "delete.retention.ms": str(86_400_000),
    "min.cleanable.dirty.ratio": "0.01",
    "max.message.bytes": str(MAX_FRAME_RECORD_BYTES + 64 * 1024),
}


@dataclass(frozen=True)
class TopicSpec:
    """What a topic must look like: name, partition count, topic-level config."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)
    # Set on creation; on an existing topic a different value is reported, not refused (retention
    # a deployment chose before the default existed).
    advisory_config: Mapping[str, str] = field(default_factory=dict)
    # aiokafka speaks CreateTopics v3, which cannot say "broker default" (-1), so it is explicit.
    replication_factor: int = 1


def ticks_topic_name(kafka: KafkaSettings, app_id: str) -> str:
    """The topic a verifier sends its ``SessionTick``s to, read with its other inputs."""
    return f"{kafka.topic_prefix}{app_id}-ticks"


def changelog_topic_name(app_id: str) -> str:
    """The changelog Faust keeps of the verifier's table (not prefixed: Faust names it from the app id)."""
    return f"{app_id}-{VERIFIER_TABLE_NAME}-changelog"


def topic_specs(kafka: KafkaSettings, verifier_app_id: str = VERIFIER_APP_ID) -> list[TopicSpec]:
    """Every topic of the pipeline, all with ``kafka.partitions``: session-keyed topics must share it."""
    topics = kafka.topics
    layout: list[tuple[str, dict[str, str], dict[str, str]]] = [  # name, config, advisory config
        (topics.sessions, {}, {}),
        (topics.frames, FRAMES_CONFIG, FRAMES_RETENTION),
        (topics.observations, {}, {}),
        (topics.decisions, {}, {}),
        (topics.dead_letters, {}, {}),
        (topics.identity_requests, {}, {}),
        (ticks_topic_name(kafka, verifier_app_id), {}, {}),
        (changelog_topic_name(verifier_app_id), COMPACTED, {}),
        (topics.evidence, EVIDENCE_CONFIG, {}),
    ]
    durability = replication_config(kafka)
    return [
        TopicSpec(name, kafka.partitions, {**config, **durability}, advisory, kafka.replication_factor)
        for name, config, advisory in layout
    ]


def replication_config(kafka: KafkaSettings) -> dict[str, str]:
    """``min.insync.replicas`` as a topic config when replicated; nothing on a single node.

    Left out at 1, so topics made before replication was configurable still pass the check.
    """
    if kafka.min_insync_replicas > kafka.replication_factor:
        raise ValueError(
            f"min.insync.replicas {kafka.min_insync_replicas} > replication factor "
            f"{kafka.replication_factor}: no write could ever be acknowledged"
        )
    if kafka.replication_factor == 1:
        return {}
    return {"min.insync.replicas": str(kafka.min_insync_replicas)}
