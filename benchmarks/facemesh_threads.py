"""FaceMesh on MediaPipe's default thread pool against FaceMesh on one thread, side by side:
``python -m benchmarks.facemesh_threads [--frames 300] [--rounds 3] [--busy 2]``.

A processor shares its machine's cores with Kafka, the verifier and the identity network. The
``busy`` processes stand in for them: each spins for 4 ms and sleeps for 6 (a core 40% busy in
short bursts). The two graphs run the same frames in turn, ``rounds`` times, and each round prints
the mean, p50 and p99 of one inference and whether both graphs gave the same landmarks. Each
graph runs first in every other round.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mediapipe as mp
import numpy as np
from numpy.typing import NDArray

from benchmarks.frames import frame_pool, genuine_recordings
from benchmarks.measure import percentile
from processors.landmarks import FrameLimits, OneThreadFaceMesh, decode_jpeg, landmark_array

Meshes = list[list[NDArray[np.float64]]]


def timed_meshes(mesh: Any, images: Sequence[NDArray[np.uint8]]) -> tuple[list[float], Meshes]:
    """Each image's inference time (ms) and its faces' landmarks."""
    times, meshes = [], []
    for image in images:
        started = time.perf_counter()
        result = mesh.process(image)
        times.append((time.perf_counter() - started) * 1000)
        meshes.append([landmark_array(face) for face in result.multi_face_landmarks or ()])
    return times, meshes


def same_landmarks(a: Meshes, b: Meshes) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


def _spin_and_sleep(busy_s: float, idle_s: float) -> None:
    while True:
        until = time.perf_counter() + busy_s
        while time.perf_counter() < until:
            pass
        time.sleep(idle_s)


@contextmanager
def busy_cores(processes: int, busy_s: float = 0.004, idle_s: float = 0.006) -> Iterator[None]:
    """``processes`` processes that each keep a core busy in short bursts while the block runs."""
    workers = [
        multiprocessing.Process(target=_spin_and_sleep, args=(busy_s, idle_s), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
            worker.join()


def summary(times: Sequence[float]) -> str:
    return (
        f"mean {sum(times) / len(times):5.2f}  p50 {percentile(times, 50):5.2f}  "
        f"p99 {percentile(times, 99):5.2f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.facemesh_threads", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--frames", type=int, default=300, help="frames per graph and round [300]")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds [3]")
    parser.add_argument("--busy", type=int, default=2, help="processes keeping cores busy meanwhile [2]")
    parser.add_argument("--work-dir", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)

    recordings = genuine_recordings(args.work_dir / "sessions", 6)
    limits = FrameLimits()
    images = [decode_jpeg(jpeg, limits, rgb=True) for jpeg in frame_pool(recordings, args.frames)]
    options = {"static_image_mode": True, "max_num_faces": 2, "refine_landmarks": False}
    graphs = {
        "default pool": mp.solutions.face_mesh.FaceMesh(**options),
        "one thread": OneThreadFaceMesh(**options),
    }
    for mesh in graphs.values():
        mesh.process(images[0])  # the first call builds the graph
    print(f"{len(images)} frames, {args.busy} busy processes, rounds alternated")
    with busy_cores(args.busy):
        for round_ in range(1, args.rounds + 1):
            # Each graph goes first in every other round, so neither always meets a warmer machine.
            order = list(graphs) if round_ % 2 else list(reversed(graphs))
            timed = {name: timed_meshes(graphs[name], images) for name in order}
            results = {name: timed[name] for name in graphs}
            (times_a, meshes_a), (times_b, meshes_b) = results.values()
            for name, (times, _) in results.items():
                print(f"round {round_}  {name:12s}  {summary(times)}")
            print(f"round {round_}  same landmarks: {same_landmarks(meshes_a, meshes_b)}")
    for mesh in graphs.values():
        mesh.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
