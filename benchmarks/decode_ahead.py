"""The processor's frame batches with the JPEG decode in place against decoded ahead on a thread
of its own, side by side: ``python -m benchmarks.decode_ahead [--frames 400] [--rounds 3]``.

Both run ``processors.pipeline.analyse_batch`` over the same frame records in batches of 8 (a
backlog, as the worker takes it) on one FaceMesh graph, in turn (each side first in every other
round), ``rounds`` times. Each round prints both rates, their ratio, and whether the
observations' faces and the dead letters agree.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.frames import frame_pool, genuine_recordings
from processors.landmarks import FaceAnalyzer
from processors.pipeline import FrameResult, analyse_batch
from schemas.codec import frame_headers
from schemas.events import FrameMeta, SourceRef

BATCH = 8  # the processor's batch_max


def frame_records(jpegs: Sequence[bytes]) -> list[tuple[Any, ...]]:
    """``analyse_batch`` items: each frame with its headers, as the frames topic holds them."""
    return [
        (
            jpeg,
            frame_headers(FrameMeta(f"bench-{index % 8}", index // 8, 0)),
            0,
            SourceRef("frames", 0, index),
        )
        for index, jpeg in enumerate(jpegs)
    ]


def batched_rate(
    analyzer: FaceAnalyzer, items: Sequence[tuple[Any, ...]], decoder: Executor | None
) -> tuple[float, list[FrameResult]]:
    """Frames per second through ``analyse_batch`` in batches of ``BATCH``, and the results."""
    results: list[FrameResult] = []
    started = time.perf_counter()
    for first in range(0, len(items), BATCH):
        results += analyse_batch(analyzer, list(items[first : first + BATCH]), 0, decoder)
    return len(items) / (time.perf_counter() - started), results


def same_results(a: Sequence[FrameResult], b: Sequence[FrameResult]) -> bool:
    """The same faces in every observation and the same dead letters (the inference time aside)."""
    return len(a) == len(b) and all(x.findings() == y.findings() for x, y in zip(a, b, strict=True))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.decode_ahead", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=400, help="frames per round and side [400]")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds [3]")
    parser.add_argument("--work-dir", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)

    recordings = genuine_recordings(args.work_dir / "sessions", 6)
    items = frame_records(frame_pool(recordings, args.frames))
    with FaceAnalyzer() as analyzer, ThreadPoolExecutor(max_workers=1) as decoder:
        analyzer.analyse_jpeg(items[0][0])  # the first call builds the graph
        print(f"{len(items)} frames in batches of {BATCH}, rounds alternated")
        for round_ in range(1, args.rounds + 1):
            # Each side goes first in every other round, so neither always meets a warmer machine.
            if round_ % 2:
                in_place, results_a = batched_rate(analyzer, items, None)
                ahead, results_b = batched_rate(analyzer, items, decoder)
            else:
                ahead, results_b = batched_rate(analyzer, items, decoder)
                in_place, results_a = batched_rate(analyzer, items, None)
            print(
                f"round {round_}  in place {in_place:6.1f} frames/s  decoded ahead {ahead:6.1f} frames/s  "
                f"ratio {ahead / in_place:.2f}  same results: {same_results(results_a, results_b)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
