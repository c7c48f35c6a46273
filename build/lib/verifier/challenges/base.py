"""What a challenge plug-in is: a way to draw a challenge and a state machine that judges it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.events import Box, Challenge, Check, Face
from schemas.reasons import Reason
from verifier.settings import VerifierSettings


@dataclass
class Verdict:
    """The end of a challenge: the reason (``PASSED`` or a failure) and the checks measured."""

    reason: Reason
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class Frame:
    """One usable frame as a challenge sees it: the single face, and the server time of the frame.

    ``seq`` and ``frame_offset`` say which frame it was, for the frames a challenge names as its
    milestones (``progress["milestones"]``): the verifier has those embedded for the identity check.
    """

    face: Face
    received_at_ms: int
    seq: int = -1
    frame_offset: int | None = None

    @property
    def milestone(self) -> list[int | None]:
        """How a challenge's progress records this frame as a milestone."""
        return [self.seq, self.frame_offset]


class ChallengeType(Protocol):
    """A challenge plug-in. ``progress`` is a JSON-able dict the session stores between frames."""

    name: str

    def draw(self, rng: random.Random, image_width: int, image_height: int) -> Challenge: ...

    def time_limit_s(self, challenge: Challenge, settings: VerifierSettings) -> float:
        """How long the challenge may take from the first framed frame (server clock)."""
        ...

    def begin(self, challenge: Challenge, reference: Frame) -> dict[str, Any]: ...

    def step(
        self,
        progress: dict[str, Any],
        challenge: Challenge,
        reference: Frame,
        frame: Frame,
        settings: VerifierSettings,
    ) -> Verdict | None: ...

    def incomplete(
        self, progress: dict[str, Any], challenge: Challenge, reference: Frame, settings: VerifierSettings
    ) -> Verdict: ...


def area_box(image_width: int, image_height: int) -> Box:
    """The sample's area box: 75% of the height, width min(0.75 W, 0.75 height), centred.

    For 640x480 this is (185, 60, 270, 360), exactly as the original sample drew it.
    """
    height = 0.75 * image_height
    width = min(0.75 * image_width, 0.75 * height)
    return Box((image_width - width) / 2, (image_height - height) / 2, width, height)
