"""The bench's report lines: the ceiling the processor's ratio is against."""

from __future__ import annotations

from benchmarks.run import ceiling_span


def test_ceiling_span_names_both_ceilings_of_the_mean() -> None:
    processor = {"ceiling_fps": 150.0, "ceiling_fps_before": 140.04, "ceiling_fps_after": 159.96}
    assert ceiling_span(processor) == "140.0 before, 160.0 after"


def test_ceiling_span_of_an_older_report_says_it_was_measured_once() -> None:
    assert ceiling_span({"ceiling_fps": 150.0}) == "measured once"
