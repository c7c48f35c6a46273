"""The framing rule: where the face must be for a challenge to start, and when the nose rests in a target.

One rule, read by everything that judges or predicts a frame: the verifier's session and
nose plug-ins decide with it, the gateway's live hints follow it (so following a hint leads
to a pass), and the what-if measures with it. Pure arithmetic on boxes, no I/O.

Before the challenge starts the face box must lie inside the area box and fill at least
``min_fill`` of it; once framed, it may leave the area by ``area_tolerance`` per side (a
head turning toward a target moves the box). The nose is in a target when it lies in the
target box widened by ``nose_tolerance`` per side, and has rested there once it stayed in
for ``hold_frames`` frames in a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import Box, Challenge
from schemas.reasons import Reason
from verifier.settings import VerifierSettings


@dataclass(frozen=True)
class Framing:
    """The framing rule of one challenge's area box, with the verifier's tolerances."""

    area: Box
    min_fill: float
    area_tolerance: float
    nose_tolerance: float
    hold_frames: int
    # False: no rest is ever complete, so a nose challenge follows every frame to its timeout
    # instead of judging at the first rest (the what-if measures every frame that way).
    judge_rests: bool = True

    @classmethod
    def of(cls, challenge: Challenge, settings: VerifierSettings) -> Framing:
        return cls(
            challenge.area,
            settings.min_face_fill,
            settings.area_tolerance,
            settings.nose_tolerance,
            settings.target_hold_frames,
            settings.judge_rests,
        )

    def fill(self, box: Box) -> float:
        """The share of the area box the face box covers."""
        return box.area / self.area.area

    def problem(self, box: Box) -> Reason | None:
        """Why a face box does not frame the face yet (``None``: it does, the challenge may start)."""
        if not self.area.contains_box(box):
            return Reason.FACE_OUT_OF_AREA
        if box.area < self.min_fill * self.area.area:
            return Reason.FACE_TOO_SMALL
        return None

    def stays(self, box: Box) -> bool:
        """Whether a framed face is still in the area, as widened by the tolerance once framed."""
        return self.area.widened(self.area_tolerance).contains_box(box)

    def in_target(self, target: Box, nose: tuple[float, float]) -> bool:
        """Whether the nose lies in the target, as widened by the tolerance."""
        return target.widened(self.nose_tolerance).contains_point(*nose)

    def rested(self, held: int) -> bool:
        """Whether ``held`` frames in a row with the nose in the target complete a rest."""
        return self.judge_rests and held >= self.hold_frames


def nose_targets(challenge: Challenge) -> tuple[Box, ...]:
    """The boxes the nose is asked to rest in, in order (none for a challenge without targets)."""
    return challenge.targets or ((challenge.nose,) if challenge.nose else ())
