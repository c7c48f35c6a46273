"""Host-side helpers of the compose stack that need no Docker: failover table, secret, addresses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from devtools.compose import BROKERS, COMPOSE_FILE, HOST_BOOTSTRAP, token_secret
from devtools.compose_failover import COMPOSE_DISTURBANCES, COMPOSE_SCENARIOS, format_failover_table
from devtools.reliability import ScenarioReport


def _report(scenario: str, **extra: object) -> ScenarioReport:
    return ScenarioReport(scenario, 12, 13, 0, 1, 0, 2, 0.0, 0, 30.0, extra=extra)


def test_failover_table_one_row_per_scenario_with_recovery_when_measured() -> None:
    table = format_failover_table(
        [_report("baseline", latency_p95_s=4.2), _report("leader-kill", recover_s=4.9, latency_p95_s=9.0)]
    ).splitlines()
    assert table[0].startswith(
        "| scenario | sessions | missing | duplicate | wrong | timeouts | time to recover"
    )
    assert table[2] == "| baseline | 12 | 0 | 1 | 0 | 2 | - | 4.2 s |"
    assert table[3] == "| leader-kill | 12 | 0 | 1 | 0 | 2 | 4.9 s | 9.0 s |"


def test_every_compose_scenario_has_a_disturbance() -> None:
    assert set(COMPOSE_SCENARIOS) == set(COMPOSE_DISTURBANCES)


def test_host_bootstrap_is_each_brokers_published_listener() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    published = {
        service: services[service]["environment"]["KAFKA_EXTERNAL"] for service, _ in BROKERS.values()
    }
    assert sorted(published.values()) == sorted(HOST_BOOTSTRAP.split(","))


def test_token_secret_made_once_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIVENESS_TOKEN_SECRET", raising=False)
    first = token_secret(tmp_path)
    assert len(first) == 64 and token_secret(tmp_path) == first
    assert oct((tmp_path / "token-secret").stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("LIVENESS_TOKEN_SECRET", "from-the-environment")
    assert token_secret(tmp_path) == os.environ["LIVENESS_TOKEN_SECRET"]
