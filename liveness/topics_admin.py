"""Create, check and delete Kafka topics, and wait until a broker really serves requests.

The topics a deployment needs are listed in ``runtime/topics.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError, for_code

from runtime.settings import KafkaSettings
from runtime.topics import VERIFIER_APP_ID, TopicSpec, topic_specs
from schemas.errors import LivenessError

# CreateTopics/DeleteTopics ask the broker to wait this long for the controller.
_ADMIN_TIMEOUT_MS = 30_000
# One readiness attempt must not hang on a socket the broker accepted but does not serve yet.
_PROBE_TIMEOUT_S = 5.0
_PROBE_INTERVAL_S = 0.2


class TopicMismatchError(LivenessError):
    """A topic already exists with a partition count or a config other than the one asked for.

    Session-keyed topics are joined by partition, so a silently accepted mismatch
    would send a session's frames and its start to different verifier instances.
    """

    reason_code = "TOPIC_MISMATCH"


@asynccontextmanager
async def _admin(
    bootstrap: str, request_timeout_ms: int = 40_000, security: Mapping[str, Any] | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    # ``security``: the SASL/SSL options of ``KafkaSettings.client_options`` (every client gets them).
    options = {key: value for key, value in (security or {}).items() if key != "bootstrap_servers"}
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms, **options
    )
    try:
        await client.start()
        yield client
    finally:
        await client.close()


async def ensure_topics(
    bootstrap: str, specs: Sequence[TopicSpec], security: Mapping[str, Any] | None = None
) -> list[str]:
    """Create the missing topics; existing ones must have the partition count and configs asked for.

    Returns one warning per advisory setting an existing topic has with another value.
    """
    if not specs:
        return []
    async with _admin(bootstrap, security=security) as admin:
        response = await admin.create_topics(
            [
                NewTopic(
                    s.name,
                    s.partitions,
                    s.replication_factor,
                    topic_configs={**s.advisory_config, **s.config},
                )
                for s in specs
            ],
            timeout_ms=_ADMIN_TIMEOUT_MS,
        )
        existing = []
        for name, code, message in response.topic_errors:
            if code == TopicAlreadyExistsError.errno:
                existing.append(name)
            elif code:
                raise for_code(code)(f"creating topic {name!r}: {message}")
        if not existing:
            return []
        await _check_partitions(admin, [s for s in specs if s.name in existing])
        checked = [s for s in specs if s.name in existing and (s.config or s.advisory_config)]
        return await _check_configs(admin, checked)


async def create_topics(kafka: KafkaSettings, verifier_app_id: str = VERIFIER_APP_ID) -> list[str]:
    """Create the missing topics and check the existing ones, with the deployment's SASL/SSL settings.

    Returns the warnings about existing topics whose advisory settings differ (frames retention).
    """
    return await ensure_topics(kafka.bootstrap, topic_specs(kafka, verifier_app_id), kafka.client_options())


async def _check_configs(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> list[str]:
    """Existing topics' configs must be the spec's (CreateTime frames would let clients set the time)."""
    if not specs:
        return []
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, s.name, configs={**s.advisory_config, **s.config})
        for s in specs
    ]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for error_code, error_message, _type, name, entries in response.resources:
            if error_code:
                raise for_code(error_code)(f"describing topic {name!r}: {error_message}")
            found[name] = {entry[0]: entry[1] for entry in entries}
    for spec in specs:
        for key, wanted in spec.config.items():
            actual = found.get(spec.name, {}).get(key)
            if actual != wanted:
                raise TopicMismatchError(
                    f"topic {spec.name!r} exists with {key}={actual}, {wanted} wanted; fix it with "
                    f"kafka-configs.sh --alter --entity-type topics --entity-name {spec.name} "
                    f"--add-config {key}={wanted} (or delete the topic), then run 'liveness topics' again"
                )
    return [
        f"topic {spec.name!r} has {key}={found.get(spec.name, {}).get(key)}, {wanted} recommended "
        f"(kafka-configs.sh --alter --entity-type topics --entity-name {spec.name} "
        f"--add-config {key}={wanted})"
        for spec in specs
        for key, wanted in spec.advisory_config.items()
        if found.get(spec.name, {}).get(key) != wanted
    ]


async def _check_partitions(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    counts = await _partition_counts(admin, [s.name for s in specs])
    for spec in specs:
        found = counts[spec.name]
        if found != spec.partitions:
            raise TopicMismatchError(
                f"topic {spec.name!r} exists with {found} partitions, {spec.partitions} wanted; "
                "delete it or change the spec (partition counts cannot shrink)"
            )


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Delete the named topics; names that do not exist are not an error."""
    if not names:
        return
    async with _admin(bootstrap) as admin:
        response = await admin.delete_topics(list(names), timeout_ms=_ADMIN_TIMEOUT_MS)
        for name, code in response.topic_error_codes:
            if code and code != UnknownTopicOrPartitionError.errno:
                raise for_code(code)(f"deleting topic {name!r}")


async def wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> str:
    """Wait until the broker lists a live broker and a controller in its metadata; return the cluster id.

    An open port is not enough: a KRaft broker accepts connections before it is
    unfenced, and a topic created then fails with INVALID_REPLICATION_FACTOR.
    Raises TimeoutError with the last failure when the time is up.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last_failure: object = "no attempt made"
    while (remaining := deadline - loop.time()) > 0:
        try:
            async with asyncio.timeout(min(remaining, _PROBE_TIMEOUT_S)):
                cluster = await _describe_cluster(bootstrap, request_timeout_ms=int(_PROBE_TIMEOUT_S * 1000))
            if cluster["brokers"] and cluster["controller_id"] >= 0:
                return str(cluster["cluster_id"])
            last_failure = f"metadata lists no live broker yet: {cluster}"
        except (KafkaError, OSError, TimeoutError) as exc:
            last_failure = exc
        await asyncio.sleep(_PROBE_INTERVAL_S)
    raise TimeoutError(
        f"Kafka at {bootstrap} not ready after {timeout_s:.0f} s; last failure: {last_failure!r}"
    )


async def _describe_cluster(bootstrap: str, request_timeout_ms: int) -> dict[str, Any]:
    async with _admin(bootstrap, request_timeout_ms=request_timeout_ms) as admin:
        return await admin.describe_cluster()


async def _partition_counts(
    admin: AIOKafkaAdminClient, names: Sequence[str], timeout_s: float = 10.0
) -> dict[str, int]:
    """Partitions of each existing topic.

    A topic created a moment ago (by a run just before this one) is described with no partitions
    until the broker's metadata has caught up: asked again until every topic has some.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        counts = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(list(names))}
        if all(counts.values()) or asyncio.get_running_loop().time() > deadline:
            return counts
        await asyncio.sleep(_PROBE_INTERVAL_S)
