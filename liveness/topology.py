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
    topics, n = kafka.topics, kafka.partitions
    return [
        TopicSpec(topics.sessions, n),
        TopicSpec(topics.frames, n, FRAMES_CONFIG),
        TopicSpec(topics.observations, n),
        TopicSpec(topics.decisions, n),
        TopicSpec(topics.dead_letters, n),
        TopicSpec(topics.identity_requests, n),
        TopicSpec(ticks_topic_name(kafka, verifier_app_id), n),
        TopicSpec(changelog_topic_name(verifier_app_id), n, COMPACTED),
    ]


async def create_topics(kafka: KafkaSettings, verifier_app_id: str = VerifierWorkerSettings.app_id) -> None:
    """Create the missing topics and check the existing ones, with the deployment's SASL/SSL settings."""
    await ensure_topics(kafka.bootstrap, topic_specs(kafka, verifier_app_id), kafka.client_options())
