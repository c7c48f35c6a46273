"""Crash, restart, rebalance, broker outage and flood under load: one decision per session, unchanged.

A CI-sized run of ``liveness reliability``: its own broker (so it can be
stopped), real worker processes, a dozen generated genuine and attack sessions
per scenario, published paced and staggered, with the disturbance part-way in.
"""

from __future__ import annotations

import asyncio
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

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

DISTURBED = ("processor-kill", "verifier-kill", "verifier-kill-warm", "rebalance", "broker-restart", "flood")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, Corpus]]:
    settings = ReliabilitySettings(
        work_dir=Path(tmp_path_factory.mktemp("reliability")),
        sessions=12,
        outage_s=4.0,
        flood_frames=1500,
        grace_s=6.0,
    )
    corpus, burst = build_corpus(settings)
    with Harness(settings) as running:
        running.burst = burst
        yield running, corpus


@pytest.fixture(scope="module")
def baseline(harness: tuple[Harness, Corpus]) -> dict[str, float]:
    running, corpus = harness
    report = asyncio.run(run_scenario(running, corpus, "baseline"))
    assert report.ok, format_problems([report])
    return baseline_latencies([s for sid, s in running.tracked.items() if sid.startswith("baseline-")])


@pytest.fixture(scope="module")
def reports() -> list[ScenarioReport]:
    return []


@pytest.mark.parametrize("scenario", DISTURBED)
def test_pipeline_disturbed_mid_load_every_session_decided_once_as_undisturbed(
    scenario: str,
    harness: tuple[Harness, Corpus],
    baseline: dict[str, float],
    reports: list[ScenarioReport],
) -> None:
    running, corpus = harness
    report = asyncio.run(run_scenario(running, corpus, scenario, baseline))
    reports.append(report)
    print("\n" + format_table(reports))
    failures = scenario_failures(report, running.stack.workers)
    assert failures == [], "\n".join(failures)
