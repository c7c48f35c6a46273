"""A replicated three-broker cluster loses the leader of the busiest partitions under load.

Three local KRaft JVMs (``devtools.cluster``), every pipeline topic and the
verifier's changelog with 3 replicas and ``min.insync.replicas=2``, a real
processor and verifier, generated genuine and attack sessions published paced.
Part-way in, the node leading most frames and decisions partitions is SIGKILLed
(``leader-kill``) or stopped cleanly (``leader-stop``) and restarted a few
seconds later. Every session must get exactly one decision, equal to the
undisturbed one. After a crash, frames wait out the failover (the controller
must first fence the silent node), so a session they delay past the verifier's
clock-drift limit may get CLOCK_SKEW, only while its partitions had no leader;
a clean stop hands leadership over first and must not even cause that.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.reliability import (
    Corpus,
    Harness,
    ReliabilitySettings,
    ScenarioReport,
    baseline_latencies,
    build_corpus,
    format_problems,
    format_table,
    run_scenario,
    scenario_failures,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

# CI picks free ports; a shared machine can pin the cluster to a range of its own.
_BASE_PORT = int(os.environ.get("LIVENESS_CLUSTER_BASE_PORT", "0")) or None


@pytest.fixture(scope="module")
def cluster_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, Corpus]]:
    # aiokafka logs every failed reconnect to the dead node, many a second.
    aiokafka_log = logging.getLogger("aiokafka")
    level, aiokafka_log.level = aiokafka_log.level, logging.CRITICAL
    settings = ReliabilitySettings(
        work_dir=Path(tmp_path_factory.mktemp("cluster")),
        sessions=12,
        outage_s=6.0,
        grace_s=6.0,
        brokers=3,
        base_port=_BASE_PORT,
    )
    corpus, _burst = build_corpus(settings)
    try:
        with Harness(settings) as running:
            yield running, corpus
    finally:
        aiokafka_log.setLevel(level)


@pytest.fixture(scope="module")
def baseline(cluster_harness: tuple[Harness, Corpus], reports: list[ScenarioReport]) -> dict[str, float]:
    running, corpus = cluster_harness
    report = asyncio.run(run_scenario(running, corpus, "baseline"))
    reports.append(report)
    assert report.ok and report.timeouts == 0, format_problems([report])
    return baseline_latencies([s for sid, s in running.tracked.items() if sid.startswith("baseline-")])


@pytest.fixture(scope="module")
def reports() -> list[ScenarioReport]:
    return []


def test_cluster_topics_three_replicas_two_in_sync(cluster_harness: tuple[Harness, Corpus]) -> None:
    running, _ = cluster_harness
    topics = running.kafka.topics
    partitions = running.broker.partitions([topics.frames, topics.decisions])
    assert partitions and all(len(p["replicas"]) == 3 for p in partitions)
    assert running.kafka.min_insync_replicas == 2


@pytest.mark.parametrize("scenario", ["leader-kill", "leader-stop"])
def test_leader_down_under_load_every_session_decided_once_as_undisturbed(
    scenario: str,
    cluster_harness: tuple[Harness, Corpus],
    baseline: dict[str, float],
    reports: list[ScenarioReport],
) -> None:
    running, corpus = cluster_harness
    report = asyncio.run(run_scenario(running, corpus, scenario, baseline))
    reports.append(report)

    print("\n" + format_table(reports))
    for r in reports:
        print(f"{r.scenario}: {dict(r.extra)}")
    failures = scenario_failures(report, running.stack.workers)
    assert failures == [], "\n".join(failures)
    if scenario == "leader-stop":  # a clean stop hands leadership over first: no session may time out
        assert report.timeouts == 0, format_problems([report])
