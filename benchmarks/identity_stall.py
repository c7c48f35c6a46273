"""``python -m benchmarks.identity_stall``: what an embedding does to the frames around it in one process.

The processor's layout without Kafka: an event loop hands frames to a FaceMesh thread at a
steady rate while an identity thread embeds a frame now and then. With dlib's network run on
the identity thread, dlib holds the GIL for its whole pass and the frames in flight wait; with
the network in a child process (``IdentityModel(own_process=True)``, as the worker runs it)
they do not. Prints the frame and embedding latencies (wall time, from the loop) of each
layout, alternated, so both see the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.frames import frame_pool, genuine_recordings
from benchmarks.measure import percentile
from processors.identity import IdentityModel, IdentityStage
from processors.landmarks import FaceAnalyzer, decode_jpeg
from schemas.events import IdentityRequest


async def _latencies(
    model: IdentityModel, frames: Sequence[bytes], fps: float, embeddings_per_s: float, seconds: float
) -> tuple[list[float], list[float]]:
    """Per-frame and per-embedding latency (s) with frames at ``fps`` and embeddings alongside."""
    loop = asyncio.get_running_loop()
    facemesh, identity = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    analyzer = facemesh.submit(FaceAnalyzer).result()
    stage = identity.submit(lambda: IdentityStage(FaceAnalyzer(), model)).result()
    meshes = [analyzer.mesh_points(decode_jpeg(f, analyzer.limits)) for f in frames[:20]]
    frame_s: list[float] = []
    embed_s: list[float] = []

    async def paced(period_s: float, step: Callable[[int], Awaitable[None]]) -> None:
        begin, index = time.monotonic(), 0
        while time.monotonic() - begin < seconds:
            await asyncio.sleep(max(0.0, begin + index * period_s - time.monotonic()))
            await step(index)
            index += 1

    async def frame(index: int) -> None:
        started = time.monotonic()
        await loop.run_in_executor(facemesh, analyzer.analyse_jpeg, frames[index % len(frames)])
        frame_s.append(time.monotonic() - started)

    async def embed(index: int) -> None:
        started = time.monotonic()
        request = IdentityRequest("stall", index, None, 0)
        jpeg, mesh = frames[index % 20], meshes[index % 20]
        await loop.run_in_executor(identity, stage.sample, request, jpeg, mesh)
        embed_s.append(time.monotonic() - started)

    await asyncio.gather(paced(1 / fps, frame), paced(1 / embeddings_per_s, embed))
    facemesh.shutdown()
    identity.shutdown()
    return frame_s, embed_s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.identity_stall", description=__doc__)
    parser.add_argument("--fps", type=float, default=50.0, help="frames per second (5 sessions at 10 fps)")
    parser.add_argument("--embeddings-per-s", type=float, default=4.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    frames = frame_pool(genuine_recordings(args.work_dir / "sessions", 12), 200)
    layouts = {
        "network on the thread": IdentityModel(),
        "network in a child": IdentityModel(own_process=True),
    }
    for _ in range(args.rounds):
        for name, model in layouts.items():
            frame_s, embed_s = asyncio.run(
                _latencies(model, frames, args.fps, args.embeddings_per_s, args.seconds)
            )
            print(
                f"{name}: frames p50 {1000 * statistics.median(frame_s):.1f} "
                f"p99 {1000 * percentile(frame_s, 99):.1f} ms ({len(frame_s)}); embeddings p50 "
                f"{1000 * statistics.median(embed_s):.1f} p99 {1000 * percentile(embed_s, 99):.1f} ms "
                f"({len(embed_s)})",
                flush=True,
            )
    for model in layouts.values():
        model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
