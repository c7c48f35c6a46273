"""The turn challenge: turn the head to a random sequence of two sides, each verified in 3D."""

from __future__ import annotations

import random
from typing import Any

from schemas.events import Challenge, Check
from schemas.reasons import Reason
from verifier.challenges.base import Frame, Verdict, area_box
from verifier.checks import nonplanarity_check, rotation_toward
from verifier.settings import VerifierSettings

# Directions are the person's own: turning to one's left points the nose toward
# the camera's right, i.e. +x in the (unmirrored) camera image.
DIRECTIONS: dict[str, tuple[float, float]] = {"left": (1.0, 0.0), "right": (-1.0, 0.0)}


class TurnChallenge:
    """Turn toward each side of ``sequence`` in order, by at least ``min_turn_deg``."""

    name = "turn"

    def draw(self, rng: random.Random, image_width: int, image_height: int) -> Challenge:
        first = rng.choice(("left", "right"))
        second = rng.choice(("left", "right"))
        if second == first:  # a repeated side needs a return to centre we cannot verify cheaply
            second = "right" if first == "left" else "left"
        area = area_box(image_width, image_height)
        return Challenge("turn", image_width, image_height, area, sequence=(first, second))

    def time_limit_s(self, challenge: Challenge, settings: VerifierSettings) -> float:
        return settings.challenge_timeout_s

    def begin(self, challenge: Challenge, reference: Frame) -> dict[str, Any]:
        return {"step": 0, "best": 0.0, "worst": 0.0}

    def step(
        self,
        progress: dict[str, Any],
        challenge: Challenge,
        reference: Frame,
        frame: Frame,
        settings: VerifierSettings,
    ) -> Verdict | None:
        direction = DIRECTIONS[challenge.sequence[progress["step"]]]
        toward = rotation_toward(reference.face, frame.face, direction)
        progress["best"] = max(progress["best"], toward)
        if progress["step"] == 0:
            progress["worst"] = min(progress["worst"], toward)
            if toward < -settings.wrong_direction_deg:
                return Verdict(
                    Reason.WRONG_DIRECTION, self._checks(progress, settings, len(challenge.sequence))
                )
        if toward < settings.min_turn_deg:
            return None
        planarity = nonplanarity_check(reference.face, frame.face, settings.min_nonplanarity)
        if not planarity.passed:
            return Verdict(
                Reason.PLANAR_MOTION, [*self._checks(progress, settings, len(challenge.sequence)), planarity]
            )
        progress["step"] += 1
        if progress["step"] < len(challenge.sequence):
            progress["best"] = 0.0  # the next side starts from nothing
            return None
        # "best" still holds the last side's turn, so a pass reports it as passed.
        return Verdict(Reason.PASSED, [*self._checks(progress, settings, len(challenge.sequence)), planarity])

    def incomplete(
        self, progress: dict[str, Any], challenge: Challenge, reference: Frame, settings: VerifierSettings
    ) -> Verdict:
        return Verdict(Reason.TIMEOUT, self._checks(progress, settings, len(challenge.sequence)))

    @staticmethod
    def _checks(progress: dict[str, Any], settings: VerifierSettings, sides: int) -> list[Check]:
        return [
            Check("turns_completed", float(progress["step"]), float(sides), progress["step"] >= sides),
            Check(
                "rotation_toward_target_deg",
                round(progress["best"], 2),
                settings.min_turn_deg,
                progress["best"] >= settings.min_turn_deg,
            ),
            Check(
                "rotation_away_deg",
                round(-progress["worst"], 2),
                settings.wrong_direction_deg,
                -progress["worst"] <= settings.wrong_direction_deg,
            ),
        ]
