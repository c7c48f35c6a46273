"""The benchmark's smoke run produces every figure of the report (no threshold on time)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks import kafka_shell, measure, verifier_paced
from benchmarks.run import format_report, run_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def test_bench_quick_run_reports_every_figure(kafka_bootstrap: str, tmp_path: Path) -> None:
    report = run_all(measure.Bench(kafka_bootstrap, tmp_path, quick=True))

    assert {"processor", "scaling", "latency", "streaming_vs_batch", "verifier", "wire"} <= report.keys()
    processor = report["processor"]
    assert processor["pipeline_fps"] > 0 and processor["ceiling_fps"] > 0
    # The ceiling the ratio is against brackets the processor's run: measured before and after.
    assert processor["ceiling_fps"] == pytest.approx(
        (processor["ceiling_fps_before"] + processor["ceiling_fps_after"]) / 2
    )
    assert processor["ratio"] == pytest.approx(processor["pipeline_fps"] / processor["ceiling_fps"])
    assert all("p99_ms" in row for row in report["latency"]["rows"] if "concurrent_sessions" in row)
    assert report["verifier"]["worker"]["events_per_s"] > 0
    assert report["verifier"]["state"]["bytes_per_open_session"] > 0
    assert all(math.isfinite(n) for n in _numbers(report))
    table = format_report(report)
    assert "of ceiling" in table and "p99" in table and "bytes/frame" in table


def test_paced_verifier_reports_its_cpu_per_event(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVENESS_BOOTSTRAP", kafka_bootstrap)
    figures = verifier_paced.main(["--lanes", "2", "--seconds", "3", "--work-dir", str(tmp_path)])
    # Two lanes at 10 observations a second for 3 s (the first lane's start-up aside).
    assert 30 <= figures["events"] <= 60
    assert figures["committed"] == figures["events"]  # the verifier handled every one
    assert 0 < figures["cpu_ms_per_event"] < 1_000 and figures["cores"] > 0


@pytest.mark.parametrize("shell", kafka_shell.SHELLS)
def test_each_kafka_shell_answers_every_paced_frame_and_reports_its_cpu(
    kafka_bootstrap: str, shell: str
) -> None:
    # The harness waits for an observation per frame, so a shell that drops or stalls fails here.
    cpu_ms = kafka_shell.shell_cpu_ms_per_frame(kafka_bootstrap, shell, fps=50, seconds=2)
    assert 0 < cpu_ms < 1_000
