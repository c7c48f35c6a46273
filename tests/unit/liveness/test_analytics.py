"""Analysts' tools without a broker: filters, terminal lines, Parquet parts, resume offsets, the report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from liveness import analytics
from liveness.analytics import AnalyticsError, Checkpoint, DecisionFilter
from liveness.cli import build_parser
from schemas.events import Check, Decision

T0_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z
TOPIC = "liveness.decisions"


def decision(
    session_id: str = "s1",
    outcome: str = "pass",
    reason: str = "PASSED",
    challenge_type: str = "nose",
    started_at_ms: int = T0_MS,
    duration_ms: int = 4_000,
) -> Decision:
    checks = (
        Check("trajectory_rms", 0.011, 0.02, True),
        Check("nonplanarity", None, 0.012, outcome == "pass"),
    )
    return Decision(
        session_id, outcome, reason, challenge_type, checks, 42, 1, started_at_ms, started_at_ms + duration_ms
    )


def rows(*decisions: Decision, partition: int = 0, first_offset: int = 0) -> list[dict]:
    return [
        analytics.decision_row(d, partition, first_offset + i, d.decided_at_ms)
        for i, d in enumerate(decisions)
    ]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (DecisionFilter(), True),
        (DecisionFilter(outcomes=frozenset({"fail"})), True),
        (DecisionFilter(outcomes=frozenset({"pass"})), False),
        (DecisionFilter(reasons=frozenset({"TIMEOUT", "NO_FACE"})), True),
        (DecisionFilter(frozenset({"fail"}), frozenset({"NO_FACE"}), frozenset({"turn"})), False),
    ],
)
def test_decision_filter_sets_and_combinations_match_as_expected(
    match: DecisionFilter, expected: bool
) -> None:
    assert match.matches(decision(outcome="fail", reason="NO_FACE")) is expected


def test_format_decision_fail_line_names_time_reason_and_failed_checks() -> None:
    line = analytics.format_decision(decision("sess-9", "fail", "PLANAR_MOTION", "turn", duration_ms=6_300))
    assert line.startswith("2026-09-21T14:13:26.300Z  FAIL  PLANAR_MOTION")
    assert "turn" in line and "6.3 s" in line and "sess-9" in line
    assert line.endswith("failed: nonplanarity")


def test_write_part_rows_read_back_with_schema_types(tmp_path: Path) -> None:
    path = analytics.write_part(tmp_path, rows(decision(), decision("s2", "fail", "TIMEOUT")), now_ms=5)
    table = pq.read_table(path)
    assert table.schema.equals(analytics.decision_schema())
    first = table.to_pylist()[0]
    assert first["latency_ms"] == 4_000 and first["v"] == 1
    assert first["checks"][1] == {"name": "nonplanarity", "value": None, "threshold": 0.012, "passed": True}
    assert first["decided_at"].timestamp() * 1000 == T0_MS + 4_000
    assert not list(tmp_path.glob(".*.tmp"))


def test_load_checkpoint_part_written_after_last_checkpoint_moves_offsets_forward(tmp_path: Path) -> None:
    analytics.write_checkpoint(tmp_path, Checkpoint(TOPIC, {0: 3, 1: 10}, ["part-old.parquet"]))
    # A run that stopped between writing its part and its checkpoint:
    analytics.write_part(tmp_path, rows(decision("a"), decision("b"), partition=0, first_offset=3), now_ms=9)
    checkpoint = analytics.load_checkpoint(tmp_path, TOPIC)
    assert checkpoint.offsets == {0: 5, 1: 10}
    assert len(checkpoint.files) == 2


def test_load_checkpoint_of_another_topic_is_refused(tmp_path: Path) -> None:
    analytics.write_checkpoint(tmp_path, Checkpoint("dev.liveness.decisions", {0: 1}))
    with pytest.raises(AnalyticsError, match="not 'liveness.decisions'"):
        analytics.load_checkpoint(tmp_path, TOPIC)


def test_resume_offsets_takes_the_furthest_of_each_partition() -> None:
    assert analytics.resume_offsets({0: 4, 1: 9}, {0: 6, 2: 1}, {}) == {0: 6, 1: 9, 2: 1}
    assert analytics.next_offsets_of([0, 1, 0], [7, 2, 3]) == {0: 8, 1: 3}


@pytest.mark.parametrize(
    ("span_ms", "width_ms"),
    [
        (0, 60_000),
        (24 * 60_000, 60_000),
        (25 * 60_000, 300_000),
        (6 * 3600_000, 900_000),
        (90 * 86400_000, 7 * 86400_000),
    ],
)
def test_bucket_width_ms_spans_pick_round_widths(span_ms: int, width_ms: int) -> None:
    assert analytics.bucket_width_ms(span_ms) == width_ms


def test_percentile_nearest_rank_and_empty() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (analytics.percentile(values, 0.5), analytics.percentile(values, 0.95)) == (50.0, 95.0)
    assert analytics.percentile([], 0.5) is None


def test_summarise_counts_pass_rate_reasons_types_and_time_buckets() -> None:
    decided = [
        decision("a", started_at_ms=T0_MS),
        decision("b", "fail", "NO_FACE", "turn", started_at_ms=T0_MS + 30_000, duration_ms=8_000),
        decision("c", "fail", "NO_FACE", started_at_ms=T0_MS + 200_000),
        decision("d", challenge_type="turn", started_at_ms=T0_MS + 200_000),
    ]
    data = analytics.summarise(rows(*decided))
    assert (data.total, data.passed, data.pass_rate) == (4, 2, 0.5)
    assert data.reasons == (("PASSED", 2), ("NO_FACE", 2))
    assert [(c.challenge_type, c.total, c.passed) for c in data.challenges] == [
        ("nose", 2, 1),
        ("turn", 2, 1),
    ]
    assert data.bucket_ms == 60_000
    assert [(b.passed, b.failed) for b in data.buckets] == [(1, 1), (0, 0), (0, 0), (1, 1)]
    assert sorted(data.latencies_s) == [4.0, 4.0, 4.0, 8.0]


def test_summarise_no_rows_refused() -> None:
    with pytest.raises(AnalyticsError):
        analytics.summarise([])


def test_render_html_escapes_text_and_embeds_each_png() -> None:
    data = analytics.summarise(rows(decision(reason="PASSED"), decision("x", "fail", "<script>")))
    page = analytics.render_html(data, {"reasons": b"\x89PNG-a", "latency": b"\x89PNG-b"}, "dir & co", T0_MS)
    assert "<script>" not in page and "&lt;script&gt;" in page and "dir &amp; co" in page
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(e) for e in embedded] == [b"\x89PNG-a", b"\x89PNG-b"]
    assert "50.0%" in page


def test_write_report_export_dir_gives_html_and_png_plots(tmp_path: Path) -> None:
    exported = tmp_path / "export"
    exported.mkdir()
    spread = [
        decision(
            f"s{i}", *(("pass", "PASSED") if i % 3 else ("fail", "TIMEOUT")), started_at_ms=T0_MS + i * 90_000
        )
        for i in range(30)
    ]
    analytics.write_part(exported, rows(*spread), now_ms=1)
    data = analytics.write_report(exported, tmp_path / "report.html", tmp_path / "plots")
    assert data.total == 30
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == len(analytics.PLOTS)
    for name in analytics.PLOTS:
        assert (tmp_path / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_load_decision_rows_empty_dir_refused(tmp_path: Path) -> None:
    with pytest.raises(AnalyticsError, match="liveness decisions export"):
        analytics.load_decision_rows(tmp_path)


def test_cli_decisions_export_and_tail_flags_parse() -> None:
    parser = build_parser()
    export = parser.parse_args(["decisions", "export", "--out", "d", "--bootstrap", "k:9092", "--follow"])
    tail = parser.parse_args(["decisions", "--outcome", "fail", "--reason", "no_face", "--reason", "TIMEOUT"])
    report = parser.parse_args(["report", "--in", "d", "--out", "r.html"])
    assert (export.action, str(export.out), export.bootstrap, export.follow) == (
        "export",
        "d",
        "k:9092",
        True,
    )
    assert (tail.action, tail.outcome, tail.reason) == (None, ["fail"], ["NO_FACE", "TIMEOUT"])
    assert (str(report.in_dir), str(report.out)) == ("d", "r.html")
