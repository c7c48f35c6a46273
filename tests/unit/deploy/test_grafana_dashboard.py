"""The provisioned Grafana dashboard parses, and its panels query only metrics runtime/metrics.py defines."""

from __future__ import annotations

import json
import re

import yaml
from deploy_files import DEPLOY
from prometheus_client import REGISTRY

import runtime.metrics  # noqa: F401  (registers the metrics whose names are checked)

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "liveness.json"
_METRIC = re.compile(r"\b(?:liveness|process)_[a-z0-9_]+\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def exposed_names() -> set[str]:
    """Every sample name the process exposes: families plus the suffixes of their type."""
    names = set()
    for family in REGISTRY.collect():
        suffixes = _SUFFIXES.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return names


def queries() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def test_dashboard_panels_query_only_metrics_the_code_defines() -> None:
    known = exposed_names()
    used = {(title, name) for title, expr in queries() for name in _METRIC.findall(expr)}
    assert used
    assert {(title, name) for title, name in used if name not in known} == set()


def test_dashboard_covers_throughput_latency_reasons_lag_and_dead_letters() -> None:
    expressions = " ".join(expr for _, expr in queries())
    for needed in (
        "liveness_frames_processed_total",
        "liveness_inference_seconds_bucket",
        "liveness_frame_latency_seconds_bucket",
        "sum by (reason) (rate(liveness_decisions_total",
        "liveness_consumer_lag_messages",
        "liveness_dead_letters_total",
    ):
        assert needed in expressions


def test_dashboard_uses_the_provisioned_datasource_and_a_consistent_layout() -> None:
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    [datasource] = provisioned["datasources"]
    panels = dashboard()["panels"]
    assert {p["datasource"]["uid"] for p in panels if p["type"] != "row"} == {datasource["uid"]}
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [
        (x, y)
        for p in panels
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells)), "panels overlap"
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
