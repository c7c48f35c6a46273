"""The demo: a broker, a processor and a verifier, and sample sessions from real faces, end to end."""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from devtools.media import fetch_media
from devtools.stack import Stack
from liveness.replay import replay_streaming
from processors.landmarks import FaceAnalyzer
from producers.recording import RecordedSession, write_session
from schemas.events import Decision

# One genuine person and one attack of each kind a reader should see fail for its own reason.
DEMO_SPECIES = (
    "genuine",
    "static_photo",
    "photo_tilted",
    "two_faces",
    "no_face",
    "turn_away",
    "identity_swap",
)


def make_sample_sessions(out_dir: Path, seed: int = 7) -> list[RecordedSession]:
    """Generate the demo's sessions from the pinned real face media (deterministic for ``seed``)."""
    from evaluation.species import SPECIES, Draw, Studio

    shutil.rmtree(out_dir, ignore_errors=True)
    recordings = []
    with FaceAnalyzer() as analyzer:
        studio = Studio.open(fetch_media(), analyzer)
        for index, species in enumerate(DEMO_SPECIES):
            draw = Draw(random.Random(seed + index), np.random.default_rng(seed + index), index)
            draft = SPECIES[species](studio, draw)
            path = out_dir / f"{index:02d}-{species}"
            write_session(path, f"demo-{species}", draft.challenge, 0, draft.frames, draft.label())
            recordings.append(RecordedSession.load(path))
    return recordings


def format_decision(recording: RecordedSession, decision: Decision) -> str:
    """One readable line per session: what it was, what the verifier said, and the checks that failed."""
    label = recording.label or {}
    kind = "genuine" if label.get("genuine") else f"attack: {label.get('species', '?')}"
    verdict = "PASS" if decision.outcome == "pass" else "FAIL"
    failed = [f"{c.name}={c.value} (limit {c.threshold})" for c in decision.checks if not c.passed]
    detail = "; ".join(failed[:3]) if failed else "all checks passed"
    latency_s = (decision.decided_at_ms - decision.started_at_ms) / 1000
    return (
        f"{recording.directory.name:<22} {kind:<26} -> {verdict} {decision.reason:<18} "
        f"[{decision.frames_used} frames, decided after {latency_s:.1f}s] {detail}"
    )


def run_demo(args: argparse.Namespace) -> int:
    work_dir: Path = args.work_dir
    print("liveness-stream demo: generating sample sessions from real face photos ...", flush=True)
    started = time.monotonic()
    recordings = make_sample_sessions(work_dir / "sessions")
    print(f"  {len(recordings)} sessions in {time.monotonic() - started:.1f}s", flush=True)
    partitions = getattr(args, "partitions", None) or 4
    # Every run starts on fresh topics: a verifier table left by an earlier run belongs to those.
    shutil.rmtree(work_dir / "stack", ignore_errors=True)
    stack = Stack.local(work_dir / "stack", bootstrap=getattr(args, "bootstrap", None), partitions=partitions)
    print("starting Kafka (if none is configured), a processor and a verifier ...", flush=True)
    with stack:
        print(
            f"  broker {stack.kafka.bootstrap}, workers ready; publishing at the recorded pace ...",
            flush=True,
        )
        decisions = asyncio.run(replay_streaming(stack.kafka, recordings, stack.keys, timeout_s=120))
    print()
    pairs = list(zip(recordings, decisions, strict=True))
    for recording, decision in pairs:
        print(format_decision(recording, decision))
    print(f"\nlogs and sessions in {work_dir}")
    as_labelled = [(d.outcome == "pass") == bool((r.label or {}).get("genuine")) for r, d in pairs]
    return 0 if all(as_labelled) else 1


if __name__ == "__main__":
    sys.exit(run_demo(argparse.Namespace(work_dir=Path("out/demo"))))
