"""Identity continuity: the same person from the first framed frame to the decision, by face embeddings.

Landmark geometry cannot tell two people apart: a session that frames one person
and then lets another do the motion keeps every proportion within FaceMesh's
noise. A face-recognition embedding can, but it costs about two to three FaceMesh
frames of CPU, so only the frames that matter are embedded: the first framed frame and
the frame that reached each milestone of the challenge (each target's rest). The
verifier asks for them as they happen (``IdentityRequest``), the identity stage
answers (``IdentitySample``), and a pass waits until every answer is in. Every
embedding is held against the earliest one; one too far fails the session at once.

The frames are chosen by the server as the challenge unfolds, so a client cannot
pick which frames are compared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.events import Check


def identity_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance between two L2-normalised embeddings (0 same, 2 opposite)."""
    if len(a) != len(b):
        return math.inf  # embeddings of different models are never the same person
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))


@dataclass
class IdentityTrack:
    """What the verifier keeps of a session's identity between events (JSON-able fields only)."""

    requested: dict[str, int | None] = field(default_factory=dict)  # seq -> frame offset
    embeddings: dict[str, list[float]] = field(default_factory=dict)  # seq -> embedding, until decided
    failed: list[int] = field(default_factory=list)  # requested frames that could not be embedded
    max_distance: float = 0.0
    outbox: list[list[Any]] = field(default_factory=list)  # [seq, offset] not yet sent
    awaiting: dict[str, Any] | None = None  # a passed challenge waiting for its samples

    def request(self, seq: int, frame_offset: int | None) -> None:
        """Ask for the embedding of frame ``seq`` (once)."""
        if str(seq) not in self.requested:
            self.requested[str(seq)] = frame_offset
            self.outbox.append([seq, frame_offset])

    def ask_again_unanswered(self) -> None:
        """Ask once more for every requested frame not answered yet (a decision now waits for
        them, and the stage answers such requests first). A second answer is ignored."""
        queued = {seq for seq, _ in self.outbox}
        for key, frame_offset in self.requested.items():
            seq = int(key)
            if key not in self.embeddings and seq not in self.failed and seq not in queued:
                self.outbox.append([seq, frame_offset])

    def take_outbox(self) -> list[list[Any]]:
        requests, self.outbox = self.outbox, []
        return requests

    def receive(self, seq: int, embedding: Sequence[float]) -> bool:
        """Record one answer; False when it was never asked for (or came twice)."""
        key = str(seq)
        if key not in self.requested or key in self.embeddings or seq in self.failed:
            return False
        if not embedding:
            self.failed.append(seq)
            return True
        self.embeddings[key] = [float(v) for v in embedding]
        first = self.embeddings[min(self.embeddings, key=int)]
        self.max_distance = max(identity_distance(first, other) for other in self.embeddings.values())
        return True

    @property
    def complete(self) -> bool:
        return len(self.embeddings) + len(self.failed) >= len(self.requested)

    def checks(self, max_distance: float) -> list[Check]:
        """The identity checks of a decision: the largest distance, and how many samples there were."""
        samples, wanted = len(self.embeddings), len(self.requested)
        return [
            Check(
                "identity_distance",
                round(self.max_distance, 4),
                max_distance,
                self.max_distance <= max_distance,
            ),
            Check("identity_samples", float(samples), float(wanted), samples >= max(wanted, 2)),
        ]
