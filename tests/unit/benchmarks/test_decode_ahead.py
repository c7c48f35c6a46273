"""The decode-ahead benchmark: both ways over real frame records, results compared."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.decode_ahead import main, same_results
from processors.pipeline import FrameResult
from schemas.events import Box, Face, Observation


def observed(seq: int, nose: tuple[float, float]) -> FrameResult:
    face = Face(Box(10, 10, 100, 120), nose, 0.0, 0.0, 0.0, ())
    return FrameResult(Observation("s-1", seq, 1_000, 1_010, 640, 480, (face,), inference_ms=5.0), None)


def test_same_results_ignores_the_inference_time_only() -> None:
    results = [observed(0, (50.0, 60.0)), observed(1, (51.0, 60.0))]
    slower = [
        replace(r, observation=replace(r.observation, inference_ms=9.0)) for r in results if r.observation
    ]
    moved = [results[0], observed(1, (51.5, 60.0))]
    elsewhere = [results[0], replace(results[1], observation=replace(results[1].observation, frame_offset=7))]

    assert same_results(results, slower)
    assert not same_results(results, moved)
    assert not same_results(results, elsewhere)  # the identity stage reads the frame back by it
    assert not same_results(results, results[:1])


@pytest.mark.slow
def test_main_decodes_both_ways_on_real_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "16", "--rounds", "1", "--work-dir", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "16 frames in batches of 8" in out
    assert "same results: True" in out
