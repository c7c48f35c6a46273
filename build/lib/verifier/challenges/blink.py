"""The blink challenge: close and reopen the eyes, read from the eye-aspect-ratio of the landmarks."""

from __future__ import annotations

import random
from typing import Any

from schemas.events import Challenge, Check, Face
from schemas.reasons import Reason
from verifier.challenges.base import Frame, Verdict, area_box
from verifier.geometry import LEFT_EYE, RIGHT_EYE, eye_aspect_ratio
from verifier.settings import VerifierSettings


def face_eye_ratio(face: Face) -> float:
    return eye_aspect_ratio({i: face.point(i) for i in (*RIGHT_EYE, *LEFT_EYE)})


class BlinkChallenge:
    """Blink ``blinks`` times: the eye-aspect-ratio falls under a share of the open value, then recovers.

    A printed photo cannot blink; a replayed video can, which is why the server
    mixes this type with the geometric ones rather than relying on it alone.
    """

    name = "blink"

    def draw(self, rng: random.Random, image_width: int, image_height: int) -> Challenge:
        area = area_box(image_width, image_height)
        return Challenge("blink", image_width, image_height, area, blinks=rng.choice((1, 2)))

    def time_limit_s(self, challenge: Challenge, settings: VerifierSettings) -> float:
        return settings.challenge_timeout_s

    def begin(self, challenge: Challenge, reference: Frame) -> dict[str, Any]:
        return {"open": face_eye_ratio(reference.face), "closed": False, "blinks": 0, "lowest": 1.0}

    def step(
        self,
        progress: dict[str, Any],
        challenge: Challenge,
        reference: Frame,
        frame: Frame,
        settings: VerifierSettings,
    ) -> Verdict | None:
        ratio = face_eye_ratio(frame.face)
        if not progress["closed"]:
            progress["open"] = max(progress["open"], ratio)
        relative = ratio / progress["open"] if progress["open"] > 0 else 1.0
        progress["lowest"] = min(progress["lowest"], relative)
        if not progress["closed"] and relative < settings.blink_closed_ratio:
            progress["closed"] = True
        elif progress["closed"] and relative > settings.blink_open_ratio:
            progress["closed"] = False
            progress["blinks"] += 1
        if progress["blinks"] >= challenge.blinks:
            return Verdict(Reason.PASSED, self._checks(progress, challenge, settings))
        return None

    def incomplete(
        self, progress: dict[str, Any], challenge: Challenge, reference: Frame, settings: VerifierSettings
    ) -> Verdict:
        return Verdict(Reason.NO_BLINK, self._checks(progress, challenge, settings))

    @staticmethod
    def _checks(progress: dict[str, Any], challenge: Challenge, settings: VerifierSettings) -> list[Check]:
        return [
            Check(
                "blinks",
                float(progress["blinks"]),
                float(challenge.blinks),
                progress["blinks"] >= challenge.blinks,
            ),
            Check(
                "lowest_eye_ratio",
                round(progress["lowest"], 3),
                settings.blink_closed_ratio,
                progress["lowest"] < settings.blink_closed_ratio,
            ),
        ]
