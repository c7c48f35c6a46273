"""Decisions on a real topic: exported to Parquet, read back equal, resumed without repeats, tailed, reported.

(Named apart from tests/unit/liveness/test_analytics.py: test directories are
not packages, so two test modules may not share a basename.)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaProducer

from liveness import analytics
from liveness.topics_admin import delete_topics, ensure_topics
from runtime.settings import KafkaSettings
from runtime.topics import TopicSpec
from schemas.codec import encode
from schemas.events import Check, Decision

pytestmark = pytest.mark.integration

T0_MS = 1_790_000_000_000
COMPARED = (
    "outcome",
    "reason",
    "challenge_type",
    "frames_used",
    "frames_ignored",
    "started_at_ms",
    "decided_at_ms",
)


def decisions(first: int, count: int) -> list[Decision]:
    made = []
    for i in range(first, first + count):
        passed = i % 3 != 0
        checks = (
            Check("trajectory_rms", 0.004 * (i % 5), 0.02, True),
            Check("nonplanarity", None, 0.012, passed),
        )
        made.append(
            Decision(
                f"session-{i:03d}",
                "pass" if passed else "fail",
                "PASSED" if passed else ("NO_FACE", "TIMEOUT")[i % 2],
                ("nose", "turn", "blink")[i % 3],
                checks,
                30 + i,
                i % 4,
                T0_MS + i * 45_000,
                T0_MS + i * 45_000 + 3_000 + 250 * i,
            )
        )
    return made


async def publish(kafka: KafkaSettings, events: list[Decision], garbage: int = 0) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(kafka.topics.decisions, encode(event), key=event.session_id.encode())
        for n in range(garbage):
            await producer.send_and_wait(kafka.topics.decisions, b"not a decision", key=f"junk-{n}".encode())
    finally:
        await producer.stop()


def exported_rows(out: Path) -> list[dict]:
    return [row for part in sorted(out.glob("part-*.parquet")) for row in pq.read_table(part).to_pylist()]


def tail_cli(kafka: KafkaSettings, *flags: str) -> list[Decision]:
    env = {**os.environ, "LIVENESS_BOOTSTRAP": kafka.bootstrap, "LIVENESS_TOPIC_PREFIX": kafka.topic_prefix}
    command = [
        sys.executable,
        "-m",
        "liveness.cli",
        "decisions",
        "--from-beginning",
        "--idle-exit",
        "4",
        *flags,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90, check=True)
    return [Decision.from_dict(orjson.loads(line)) for line in done.stdout.splitlines()]


def test_decisions_export_read_back_equal_resume_adds_only_new_then_tail_and_report(
    kafka_bootstrap: str, unique_prefix: str, tmp_path: Path
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=unique_prefix, partitions=3)
    out = tmp_path / "export"
    first, second = decisions(0, 12), decisions(12, 5)
    asyncio.run(ensure_topics(kafka_bootstrap, [TopicSpec(kafka.topics.decisions, 3)]))
    try:
        asyncio.run(publish(kafka, first, garbage=1))
        run_one = asyncio.run(analytics.export_decisions(kafka, out, idle_exit_s=3))
        after_one = exported_rows(out)
        asyncio.run(publish(kafka, second))
        run_two = asyncio.run(analytics.export_decisions(kafka, out, idle_exit_s=3))
        run_three = asyncio.run(analytics.export_decisions(kafka, out, idle_exit_s=3))
        failed_no_face = tail_cli(kafka, "--outcome", "fail", "--reason", "no_face", "--json")
    finally:
        asyncio.run(delete_topics(kafka_bootstrap, [kafka.topics.decisions]))

    published = {d.session_id: d.to_dict() for d in first}
    assert {row["session_id"]: {k: row[k] for k in COMPARED} for row in after_one} == {
        sid: {k: d[k] for k in COMPARED} for sid, d in published.items()
    }
    assert all(row["checks"] == published[row["session_id"]]["checks"] for row in after_one)
    assert (run_one.rows, run_one.skipped, sum(run_one.offsets.values())) == (12, 1, 13)

    assert (run_two.rows, run_two.skipped, len(run_two.files)) == (5, 0, 1)
    assert (run_three.rows, run_three.files) == (0, ())
    everything = exported_rows(out)
    assert sorted(row["session_id"] for row in everything) == sorted(d.session_id for d in first + second)
    assert sum(run_three.offsets.values()) == 18

    expected_tail = [d for d in first + second if d.outcome == "fail" and d.reason == "NO_FACE"]
    assert sorted(failed_no_face, key=lambda d: d.session_id) == expected_tail

    report = analytics.write_report(out, tmp_path / "report.html")
    assert (report.total, report.passed) == (17, sum(d.outcome == "pass" for d in first + second))
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == len(analytics.PLOTS)
