"""The pure half of the reliability runner: judging sessions, latencies and the printed table."""

from __future__ import annotations

from types import SimpleNamespace

from devtools.reliability import (
    Seen,
    Tracked,
    baseline_latencies,
    burst_times,
    format_problems,
    format_rss,
    format_table,
    judge,
    latency_summary,
    load_plan,
    scenario_failures,
)

PASS = ("pass", "PASSED")


def tracked(sid: str, *decisions: tuple[str, str, float], expected=PASS, template="genuine") -> Tracked:
    session = Tracked(sid, template, expected, started_at_s=0.0, ended_at_s=10.0)
    session.decisions.extend(Seen(*d) for d in decisions)
    return session


def test_judge_one_equal_decision_each_is_ok() -> None:
    report = judge("x", [tracked("a", ("pass", "PASSED", 11.0)), tracked("b", ("pass", "PASSED", 12.0))])
    assert (report.missing, report.duplicates, report.wrong, report.timeouts) == (0, 0, 0, 0)
    assert report.ok and report.sessions == 2 and report.decisions == 2


def test_judge_session_without_decision_counts_missing() -> None:
    report = judge("x", [tracked("a"), tracked("b", ("pass", "PASSED", 11.0))])
    assert report.missing == 1 and not report.ok
    assert "a (genuine): no decision" in report.problems[0]


def test_scenario_failures_none_when_each_session_decided_once_and_workers_alive() -> None:
    report = judge("x", [tracked("a", ("pass", "PASSED", 11.0))])
    alive = SimpleNamespace(role="verifier", alive=lambda: True, log_tail=lambda: "")
    assert scenario_failures(report, [alive]) == []


def test_scenario_failures_name_lost_sessions_and_dead_workers() -> None:
    report = judge("x", [tracked("a"), tracked("b", ("pass", "PASSED", 11.0))])
    dead = SimpleNamespace(role="processor", alive=lambda: False, log_tail=lambda: "Traceback")
    failures = scenario_failures(report, [dead])
    assert len(failures) == 2
    assert "1 missing" in failures[0] and "a (genuine): no decision" in failures[0]
    assert failures[1] == "processor died:\nTraceback"


def test_judge_two_decisions_count_duplicate_even_when_equal() -> None:
    report = judge("x", [tracked("a", ("pass", "PASSED", 11.0), ("pass", "PASSED", 12.0))])
    assert (report.duplicates, report.decisions, report.ok) == (1, 2, False)


def test_judge_other_decision_than_undisturbed_counts_wrong() -> None:
    report = judge("x", [tracked("a", ("fail", "NO_FACE", 11.0))])
    assert report.wrong == 1 and not report.ok


def test_judge_time_limit_reason_during_outage_counts_timeout_not_wrong() -> None:
    report = judge("x", [tracked("a", ("fail", "TIMEOUT", 11.0))], outage=(5.0, 9.0))
    assert (report.wrong, report.timeouts, report.ok) == (0, 1, True)


def test_judge_time_limit_reason_outside_outage_counts_wrong() -> None:
    report = judge("x", [tracked("a", ("fail", "TIMEOUT", 11.0))], outage=(50.0, 60.0))
    assert (report.wrong, report.timeouts) == (1, 0)


def test_judge_non_time_reason_during_outage_counts_wrong() -> None:
    report = judge("x", [tracked("a", ("fail", "NO_FACE", 11.0))], outage=(5.0, 9.0))
    assert report.wrong == 1


def test_judge_extra_latency_measured_over_baseline_median() -> None:
    report = judge("x", [tracked("a", ("pass", "PASSED", 14.0))], baseline={"genuine": 1.5})
    assert report.max_extra_latency_s == 2.5


def test_baseline_latencies_median_per_template() -> None:
    sessions = [tracked(s, ("pass", "PASSED", 10.0 + d)) for s, d in (("a", 1.0), ("b", 2.0), ("c", 9.0))]
    assert baseline_latencies(sessions) == {"genuine": 2.0}


def test_format_table_one_row_per_report_with_all_counts() -> None:
    report = judge("processor-kill", [tracked("a"), tracked("b", ("fail", "NO_FACE", 11.0))])
    lines = format_table([report]).splitlines()
    assert len(lines) == 3 and lines[0].startswith("| scenario")
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[:7] == ["processor-kill", "2", "1", "1", "0", "1", "0"]


def test_format_problems_lists_offenders_and_truncates() -> None:
    report = judge("x", [tracked(f"s{i}") for i in range(5)])
    text = format_problems([report], limit=2)
    assert text.count("no decision") == 2 and "3 more" in text


def test_load_plan_cycles_templates_at_fixed_spacing() -> None:
    assert load_plan(["a", "b"], 3, 0.5) == [("a", 0.0), ("b", 0.5), ("a", 1.0)]


def test_burst_times_frames_one_millisecond_apart() -> None:
    assert burst_times(3) == [0, 1, 2]


def test_format_rss_one_line_per_worker_in_sample_order() -> None:
    samples = [{"processor-0": 190.2, "verifier-0": 170.0}, {"processor-0": 195.6, "verifier-0": 230.4}]
    assert format_rss(samples) == "processor-0: 190 196\nverifier-0: 170 230"


def test_latency_summary_median_p95_and_worst_from_end_of_session() -> None:
    sessions = [tracked(f"s{i}", ("pass", "PASSED", 10.0 + i)) for i in range(1, 21)]
    assert latency_summary(sessions) == {"latency_p50_s": 10.5, "latency_p95_s": 19.0, "latency_max_s": 20.0}


def test_latency_summary_no_decision_no_figures() -> None:
    assert latency_summary([tracked("s")]) == {}


def test_judge_wrong_decision_lists_the_failed_check() -> None:
    session = tracked("s1", ("fail", "CLOCK_SKEW", 11.0, "clock_drift_ms=7051.0>2000.0"))
    report = judge("x", [session])
    assert report.wrong == 1 and "clock_drift_ms=7051.0>2000.0" in report.problems[0]
