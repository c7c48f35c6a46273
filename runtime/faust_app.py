"""The Faust app options every worker shares (processor, verifier): serialisers, acks, linger, timeouts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.settings import KafkaSettings


def common_app_options(kafka: KafkaSettings, web_port: int | None) -> dict[str, Any]:
    """Faust settings shared by the processor and the verifier."""
    return {
        **kafka.faust_options(),
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # Batch what an event emits (observation, table changelog, decision) instead of one
        # request per record: a few ms of linger cut the verifier's CPU per event several-fold.
        "producer_linger": 0.005,
        # Faust's default (60 s) leaves a crashed worker's partitions unread for a minute before the
        # group gives them to another member; 15 s bounds that stall (and the decisions it delays).
        "broker_session_timeout": 15.0,
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_host": "127.0.0.1",
    }
