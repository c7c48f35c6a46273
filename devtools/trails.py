"""Where a session's records went: every pipeline topic read back for a few session ids.

When a disturbed scenario loses or changes a decision, the report says which session; this says
at which stage its records stopped: its start and end on the sessions topic, its frames, its
observations, its dead letters (with their reasons) and its decisions, each with the partition
and offsets they sit at, beside the verifier group's committed offsets on that partition.

    trail = await session_trails(kafka, ["verifier-kill-0008-2739d3"], group_id="liveness-verifier")
    print(format_trails(trail))
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from runtime.topics import changelog_topic_name, ticks_topic_name


@dataclass
class TopicTrail:
    """One session's records on one topic: how many, where, and what kinds."""

    count: int = 0
    partitions: set[int] = field(default_factory=set)
    first_offset: int | None = None
    last_offset: int | None = None
    kinds: dict[str, int] = field(default_factory=dict)

    def add(self, partition: int, offset: int, kind: str | None) -> None:
        self.count += 1
        self.partitions.add(partition)
        self.first_offset = offset if self.first_offset is None else min(self.first_offset, offset)
        self.last_offset = offset if self.last_offset is None else max(self.last_offset, offset)
        if kind:
            self.kinds[kind] = self.kinds.get(kind, 0) + 1


Trails = dict[str, dict[str, TopicTrail]]  # session id -> topic -> trail


def record_kind(value: bytes | None) -> str | None:
    """What a record is, from its JSON body: its kind, and a dead letter's or decision's reason."""
    if not value or not value.startswith(b"{"):
        return None  # frames are image bytes
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "undecodable"
    if not isinstance(data, dict):
        return None
    parts = [str(data[name]) for name in ("kind", "outcome", "reason") if data.get(name)]
    return "/".join(parts) or None


def add_record(
    trails: Trails, topic: str, key: bytes | None, partition: int, offset: int, value: bytes | None
) -> None:
    """Count one record into the trail of its session (its key), if that session is followed."""
    session_id = key.decode(errors="replace") if key else ""
    if session_id in trails:
        kind = None if topic.endswith("-changelog") else record_kind(value)
        trails[session_id].setdefault(topic, TopicTrail()).add(partition, offset, kind)


def format_trails(trails: Trails, committed: Mapping[tuple[str, int], int] | None = None) -> str:
    """One block per session: each topic's count, partition, offset range and kinds."""
    lines = []
    for session_id, topics in trails.items():
        lines.append(f"trail of {session_id}:")
        if not topics:
            lines.append("  no record on any pipeline topic")
        for topic, trail in sorted(topics.items()):
            where = ",".join(str(p) for p in sorted(trail.partitions))
            marks = ""
            if committed:
                marks = " ".join(
                    f"committed[{p}]={committed[(topic, p)]}"
                    for p in sorted(trail.partitions)
                    if (topic, p) in committed
                )
            kinds = " ".join(f"{k}x{n}" for k, n in sorted(trail.kinds.items()))
            lines.append(
                f"  {topic}: {trail.count} on partition {where}, offsets "
                f"{trail.first_offset}..{trail.last_offset} {kinds} {marks}".rstrip()
            )
    return "\n".join(lines)


def trail_topics(kafka: Any, verifier_app_id: str) -> list[str]:
    """The session-keyed topics a session's records pass through, in pipeline order."""
    topics = kafka.topics
    return [
        topics.sessions,
        topics.frames,
        topics.observations,
        topics.identity_requests,
        ticks_topic_name(kafka, verifier_app_id),
        changelog_topic_name(verifier_app_id),
        topics.dead_letters,
        topics.decisions,
    ]


async def session_trails(
    kafka: Any, session_ids: Collection[str], verifier_app_id: str, timeout_s: float = 60.0
) -> tuple[Trails, dict[tuple[str, int], int]]:
    """Every record of ``session_ids`` on the pipeline topics, and the verifier group's committed offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    trails: Trails = {session_id: {} for session_id in session_ids}
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        names = trail_topics(kafka, verifier_app_id)
        tps = [TopicPartition(t, p) for t in names for p in range(kafka.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        async with asyncio.timeout(timeout_s):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    for r in records:
                        add_record(trails, tp.topic, r.key, tp.partition, r.offset, r.value)
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(verifier_app_id)
    finally:
        await admin.close()
    committed = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
    return trails, committed


def problem_sessions(problems: Sequence[str]) -> list[str]:
    """The session ids of a report's problems (each reads "<session id> (<template>): ...")."""
    return [problem.split(" ", 1)[0] for problem in problems]


async def describe_sessions(kafka: Any, session_ids: Sequence[str], verifier_app_id: str) -> str:
    """``format_trails`` of ``session_ids``; a failure to read them is described, not raised."""
    try:
        trails, committed = await session_trails(kafka, session_ids, verifier_app_id)
    except Exception as exc:  # a diagnosis must not hide the failure it diagnoses
        return f"could not read the trails of {list(session_ids)}: {exc!r}"
    return format_trails(trails, committed)


# Log lines worth reading beside a trail: the worker's rebalances and recoveries, and its complaints.
NOTABLE = (
    "generation",
    "Seek stream partitions",
    "never-committed",
    "Worker ready",
    "Restarting Recovery",
    "rebalancing again",
    '"level":"ERROR"',
    '"level":"WARNING"',
)
# Warnings every loaded worker prints: they would crowd out the ones that explain a loss.
ROUTINE = ("Timer commit is overlapping", "Timer tick_due_sessions is overlapping")


def notable_lines(log: str, session_ids: Sequence[str] = (), limit: int = 60) -> str:
    """The last ``limit`` lines of a worker's log that name a session or a rebalance, or warn."""
    keep = [
        line[:400]
        for line in log.splitlines()
        if (any(mark in line for mark in NOTABLE) or any(s in line for s in session_ids))
        and not any(mark in line for mark in ROUTINE)
    ]
    return "\n".join(keep[-limit:])
