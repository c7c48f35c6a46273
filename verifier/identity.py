"""Identity continuity: the same person from the first face to the decision, by face embeddings.

Landmark geometry cannot tell two people apart: a session that frames one person
and then lets another do the motion keeps every proportion within FaceMesh's
noise. The processors embed sampled frames with a face-recognition model; this
module compares them. Every embedding is held against the session's first one,
and the samples must cover the session without long gaps, so a client cannot
choose which frames are compared by leaving the sampled ones out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.events import Check


def identity_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance between two L2-normalised embeddings (0 same, 2 opposite)."""
    if len(a) != len(b):
        return math.inf  # embeddings of different models are never the same person
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


@dataclass
class IdentityTrack:
    """What the verifier keeps of a session's identity between frames (JSON-able fields only)."""

    anchor_seq: int | None = None  # the first frame with one face: coverage starts here
    reference: list[float] | None = None  # the first embedding, every later one is held against it
    last_seq: int | None = None
    samples: int = 0
    max_distance: float = 0.0
    max_gap_frames: int = 0

    def observe(self, seq: int, embedding: Sequence[float]) -> float | None:
        """Account one single-face frame; the distance to the first embedding when it has one."""
        if self.anchor_seq is None:
            self.anchor_seq = seq
        if not embedding:
            return None
        self.max_gap_frames = max(self.max_gap_frames, self.gap_to(seq))
        self.last_seq, self.samples = seq, self.samples + 1
        if self.reference is None:
            self.reference = [float(v) for v in embedding]
            return 0.0
        distance = identity_distance(self.reference, embedding)
        self.max_distance = max(self.max_distance, distance)
        return distance

    def gap_to(self, seq: int) -> int:
        """Frames since the last embedding (or since the first face, before any)."""
        since = self.last_seq if self.last_seq is not None else self.anchor_seq
        return 0 if since is None else seq - since

    def checks(
        self, final_seq: int, max_distance: float, max_gap_frames: int, min_samples: int
    ) -> list[Check]:
        """The identity checks of a decision taken at ``final_seq``."""
        gap = max(self.max_gap_frames, self.gap_to(final_seq))
        return [
            Check(
                "identity_distance",
                round(self.max_distance, 4),
                max_distance,
                self.max_distance <= max_distance,
            ),
            Check("identity_samples", float(self.samples), float(min_samples), self.samples >= min_samples),
            Check("identity_gap_frames", float(gap), float(max_gap_frames), gap <= max_gap_frames),
        ]
