"""The compose stack (deploy/compose.yaml) under load while its containers are killed and scaled.

Three KRaft brokers in containers, every pipeline topic with 3 replicas and
``min.insync.replicas=2``, two processors, a verifier, the gateway and Prometheus,
all from the images deploy/images/build.sh makes. Recorded genuine and attack
sessions are published from the host, paced and staggered, while the broker leading
most frames and decisions partitions is ``docker kill``ed and started again, the
verifier is ``docker kill``ed and started again, and processors go 2 -> 3 -> 2. Every
session must get exactly one decision, equal to the undisturbed one
(``devtools.reliability``'s counting); Prometheus must be scraping every worker.

Needs a Docker daemon and the images; runs when ``LIVENESS_COMPOSE_TESTS=1``
(deploy/ci.sh sets it, after building the images), since it takes the host ports
deploy/compose.yaml publishes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from devtools.compose import ComposeStack, prometheus_query, token_secret, wait_scraped
from devtools.compose_failover import ComposeHarness, format_failover_table, run_compose_scenario
from devtools.reliability import (
    Corpus,
    ReliabilitySettings,
    baseline_latencies,
    build_corpus,
    format_problems,
    scenario_failures,
)
from devtools.trails import describe_sessions, notable_lines, problem_sessions

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("LIVENESS_COMPOSE_TESTS") != "1",
        reason="needs Docker and the images: deploy/ci.sh runs it (LIVENESS_COMPOSE_TESTS=1)",
    ),
]

PROCESSORS = 2


@pytest.fixture(scope="module")
def compose_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ComposeHarness, Corpus]]:
    aiokafka_log = logging.getLogger("aiokafka")
    level, aiokafka_log.level = aiokafka_log.level, logging.CRITICAL  # reconnects to the killed broker
    work_dir = Path(tmp_path_factory.mktemp("compose"))
    settings = ReliabilitySettings(work_dir=work_dir, sessions=12, outage_s=6.0, grace_s=6.0, partitions=6)
    corpus, _burst = build_corpus(settings)
    stack = ComposeStack(token_secret(work_dir), partitions=settings.partitions)
    stack.down()
    try:
        stack.up(PROCESSORS)
        yield ComposeHarness(settings, stack), corpus
    finally:
        stack.down()
        aiokafka_log.level = level


@pytest.fixture(scope="module")
def baseline(compose_harness: tuple[ComposeHarness, Corpus]) -> dict[str, float]:
    harness, corpus = compose_harness
    report = asyncio.run(run_compose_scenario(harness, corpus, "baseline"))
    print("\n" + format_failover_table([report]))
    assert report.ok, format_problems([report])
    assert report.sessions == harness.settings.sessions
    return baseline_latencies(list(harness.tracked.values()))


def test_prometheus_scrapes_every_worker(compose_harness: tuple[ComposeHarness, Corpus]) -> None:
    up = wait_scraped(PROCESSORS)
    jobs = [target.split("/")[0] for target, value in up.items() if value == 1]
    assert sorted(jobs) == [
        "liveness-gateway",
        "liveness-processor",
        "liveness-processor",
        "liveness-verifier",
    ]
    # A liveness metric, not only `up`: the workers' own counters reach Prometheus.
    assert prometheus_query('count by (job) ({job=~"liveness-.*"})')


def diagnosis(harness: ComposeHarness, problems: Sequence[str], scenario: str) -> str:
    """The failed sessions' trails through the topics, and the verifier's notable log lines."""
    log = harness.settings.work_dir / f"{scenario}-verifier.log"
    log.write_text(harness.stack.compose("logs", "--no-color", "verifier"))
    ids = problem_sessions(problems)
    trails = asyncio.run(describe_sessions(harness.kafka, ids, harness.stack.verifier_app_id))
    return f"{trails}\nverifier log ({log}), notable lines:\n{notable_lines(log.read_text(), ids)}"


@pytest.mark.parametrize("scenario", ["leader-kill", "verifier-kill", "scale"])
def test_every_session_decided_once_and_unchanged(
    compose_harness: tuple[ComposeHarness, Corpus], baseline: dict[str, float], scenario: str
) -> None:
    harness, corpus = compose_harness
    report = asyncio.run(run_compose_scenario(harness, corpus, scenario, baseline))
    print("\n" + format_failover_table([report]) + f"\n{dict(report.extra)}")
    assert report.error is None, report.error
    failures = scenario_failures(report)
    if failures:  # where the failed sessions' records stopped, and what the verifier said meanwhile
        failures.append(diagnosis(harness, report.problems, scenario))
    assert failures == [], "\n".join(failures)
    assert report.sessions == harness.settings.sessions
    assert report.extra.get("recover_s") is not None
