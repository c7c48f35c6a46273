"""The topics a deployment needs, with their partition counts and configs, created up front."""

from __future__ import annotations

from liveness.config import KafkaSettings
from liveness.topics_admin import TopicSpec, ensure_topics
from verifier.agent import VerifierWorkerSettings, changelog_topic_name, ticks_topic_name

# The broker stamps frames with its own clock on arrival: that timestamp is the
# server time every deadline is judged on, whatever the client claims.
FRAMES_CONFIG = {"message.timestamp.type": "LogAppendTime", "max.message.bytes": str(2 * 1024 * 1024)}
COMPACTED = {"cleanup.policy": "compact"}


def topic_specs(
    kafka: KafkaSettings, verifier_app_id: str = VerifierWorkerSettings.app_id
) -> list[TopicSpec]:
    """Every topic of the pipeline; the session-keyed ones share ``kafka.partitions``."""
    topics = kafka.topics
    layout = [
        (topics.sessions, {}),
        (topics.frames, FRAMES_CONFIG),
        (topics.observations, {}),
        (topics.decisions, {}),
        (topics.dead_letters, {}),
        (topics.identity_requests, {}),
        (ticks_topic_name(kafka, verifier_app_id), {}),
        (changelog_topic_name(verifier_app_id), COMPACTED),
    ]
    durability = replication_config(kafka)
    return [
        TopicSpec(name, kafka.partitions, {**config, **durability}, kafka.replication_factor)
        for name, config in layout
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


async def create_topics(kafka: KafkaSettings, verifier_app_id: str = VerifierWorkerSettings.app_id) -> None:
    """Create the missing topics and check the existing ones, with the deployment's SASL/SSL settings."""
    await ensure_topics(kafka.bootstrap, topic_specs(kafka, verifier_app_id), kafka.client_options())
