"""Measure the reference-image rule on a generated corpus: ``python -m evaluation.reference_rule CORPUS``.

Each session is decided offline (the same core as the pipeline); the frames its decision names
as evidence are measured, and the rule's pick is compared with the first framed frame (the
frame ``reference_embedding`` comes from) and with the sharpest frontal frame of the *whole*
session (what a rule that could read every frame would pick).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from liveness.replay import replay_offline
from processors.evidence import FRONTAL_YAW_DEG, choose_reference, frontal_error_deg, measure
from processors.landmarks import FaceAnalyzer
from producers.recording import RecordedSession


def _row(directory: Path, analyzer: FaceAnalyzer) -> dict[str, float] | None:
    recording = RecordedSession.load(directory)
    decision = replay_offline(recording, analyzer)
    if decision.evidence is None:
        return None
    jpegs = {frame.seq: frame.jpeg() for frame in recording.frames}
    named = [measure(analyzer, seq, jpegs[seq]) for seq, _ in decision.evidence.frames]
    chosen, first = choose_reference(named), named[0]
    if chosen is None or first.faces != 1:
        return None
    baseline = statistics.median(m.pitch_deg for m in named if m.faces == 1)
    every = [m for m in (measure(analyzer, s, j) for s, j in jpegs.items() if s >= first.seq) if m.faces == 1]
    frontal = [m.sharpness for m in every if frontal_error_deg(m, baseline) <= FRONTAL_YAW_DEG]
    rank = sum(s <= chosen.sharpness for s in frontal) / len(frontal) if frontal else 0.0
    return {
        "passed": float(decision.outcome == "pass"),
        "named": float(len(named)),
        "chosen_err": frontal_error_deg(chosen, baseline),
        "first_err": frontal_error_deg(first, baseline),
        "chosen_sharp": chosen.sharpness,
        "first_sharp": first.sharpness,
        "best_sharp": max(frontal, default=0.0),
        "rank": rank,
    }


def main(argv: list[str]) -> int:
    corpus = Path(argv[0])
    rows = []
    with FaceAnalyzer() as analyzer:
        for directory in sorted(p for p in corpus.iterdir() if (p / "label.json").exists()):
            row = _row(directory, analyzer)
            if row is not None:
                rows.append(row)
                print(directory.name, {k: round(v, 2) for k, v in row.items()}, flush=True)
    for key in rows[0]:
        values = [r[key] for r in rows]
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"{key:13s} median {mid:8.2f}  max {high:8.2f}  min {low:8.2f}")
    sharper = sum(r["chosen_sharp"] > r["first_sharp"] for r in rows)
    print(f"{len(rows)} sessions; the pick is sharper than the first framed frame in {sharper}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
