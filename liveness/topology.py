"""The topics a deployment needs, with their partition counts and configs, created up front."""

from __future__ import annotations

from liveness.topics_admin import TopicSpec, ensure_topics
from runtime.settings import KafkaSettings
from verifier.agent import VerifierWorkerSettings, changelog_topic_name, ticks_topic_name

# The broker stamps frames with its own clock on arrival: that timestamp is the
# server time every deadline is judged on, whatever the client claims.
FRAMES_CONFIG = {"message.timestamp.type": "LogAppendTime", "max.message.bytes": str(2 * 1024 * 1024)}
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
    "max.message.bytes": str(2 * 1024 * 1024 + 64 * 1024),
}


def topic_specs(
    kafka: KafkaSettings, verifier_app_id: str = VerifierWorkerSettings.app_id
) -> list[TopicSpec]:
    """Every topic of the pipeline; the session-keyed ones share ``kafka.partitions``."""
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


async def create_topics(
    kafka: KafkaSettings, verifier_app_id: str = VerifierWorkerSettings.app_id
) -> list[str]:
    """Create the missing topics and check the existing ones, with the deployment's SASL/SSL settings.

    Returns the warnings about existing topics whose advisory settings differ (frames retention).
    """
    return await ensure_topics(kafka.bootstrap, topic_specs(kafka, verifier_app_id), kafka.client_options())
