"""Real face frames for the benchmarks: generated genuine sessions from the pinned face media."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from devtools.media import fetch_media
from evaluation.species import SPECIES, Draw, Studio
from processors.landmarks import FaceAnalyzer
from producers.recording import RecordedSession, write_session


def genuine_recordings(out_dir: Path, count: int, seed: int = 11) -> list[RecordedSession]:
    """``count`` genuine sessions (different people), written once and reused on later runs."""
    recordings = []
    with FaceAnalyzer() as analyzer:
        studio: Studio | None = None
        for index in range(count):
            path = out_dir / f"genuine-{seed}-{index:03d}"
            if not (path / "frames.jsonl").exists():
                studio = studio or Studio.open(fetch_media(), analyzer)
                draw = Draw(random.Random(seed + index), np.random.default_rng(seed + index), index)
                draft = SPECIES["genuine"](studio, draw)
                write_session(path, f"bench-{index}", draft.challenge, 0, draft.frames, draft.label())
            recordings.append(RecordedSession.load(path))
    return recordings


def frame_pool(recordings: list[RecordedSession], count: int) -> list[bytes]:
    """``count`` JPEG frames cycled from the recordings (640x480, quality 85)."""
    frames = [frame.jpeg() for recording in recordings for frame in recording.frames]
    return [frames[i % len(frames)] for i in range(count)]
