"""The nose-sequence challenge: rest the nose in two to four targets, one after another, on alternating sides.

One target carries too little entropy: a recording of someone reaching their own
target passes against a freshly drawn one whenever the two happen to lie close,
about one try in eight. Every further target multiplies that chance by the chance
of meeting one more (about one in six for a given side), so three targets bring a
blind replay well under one in two hundred (README, "The challenge and its checks").

Targets alternate sides, so every step is a head turn of 90-200 px of nose travel,
which the 3D checks can verify, and the person's instruction stays simple: left,
right, left. Each step is judged on its own: the head must have turned toward the
new target since it rested in the previous one (the first step: since the first
framed frame), judged on the best frame while the nose rests.
"""

from __future__ import annotations

import math
import random
from typing import Any

from schemas.events import Box, Challenge, Check, Face
from schemas.reasons import Reason
from verifier.challenges.base import Frame, Verdict, area_box
from verifier.checks import nonplanarity, rotation_toward
from verifier.framing import Framing
from verifier.settings import VerifierSettings

REFERENCE_WIDTH, REFERENCE_HEIGHT = 640, 480
TARGETS = 3
NOSE_BOX_PX = 20
# Offsets of a target's centre from the image centre, for a 640x480 frame. Wider than the
# single target's 45-90 px: a recorded rest point then meets a new target less often.
OFFSET_X_PX = (45.0, 100.0)
OFFSET_Y_PX = (0.0, 60.0)


def draw_targets(
    rng: random.Random, image_width: int, image_height: int, count: int = TARGETS
) -> tuple[Box, ...]:
    """``count`` target boxes on alternating sides, the first side and every offset drawn by ``rng``."""
    sx, sy = image_width / REFERENCE_WIDTH, image_height / REFERENCE_HEIGHT
    side = rng.choice((-1, 1))
    width, height = NOSE_BOX_PX * sx, NOSE_BOX_PX * sy
    targets = []
    for _ in range(count):
        centre_x = image_width / 2 + side * rng.uniform(*OFFSET_X_PX) * sx
        centre_y = image_height / 2 + rng.choice((-1, 1)) * rng.uniform(*OFFSET_Y_PX) * sy
        targets.append(Box(centre_x - width / 2, centre_y - height / 2, width, height))
        side = -side
    return tuple(targets)


def _direction(origin: tuple[float, float], target: tuple[float, float]) -> tuple[float, float]:
    dx, dy = target[0] - origin[0], target[1] - origin[1]
    length = math.hypot(dx, dy)
    return (dx / length, dy / length) if length > 0 else (0.0, 0.0)


class NoseSequenceChallenge:
    """Nose into each target in turn; every step a measured head turn toward its target."""

    name = "nose_sequence"

    def draw(self, rng: random.Random, image_width: int, image_height: int) -> Challenge:
        area = area_box(image_width, image_height)
        targets = draw_targets(rng, image_width, image_height)
        return Challenge("nose_sequence", image_width, image_height, area, targets=targets)

    def time_limit_s(self, challenge: Challenge, settings: VerifierSettings) -> float:
        return settings.sequence_step_timeout_s * len(challenge.targets)

    def begin(self, challenge: Challenge, reference: Frame) -> dict[str, Any]:
        return {
            "step": 0,
            "held": 0,
            "origin": reference.face.to_dict(),  # the pose each step's turn is measured from
            "rest_best": None,  # None, not -inf: the progress goes through JSON
            "rest_face": None,
            "rest_frame": None,
            "milestones": [],  # the best resting frame of each reached target: embedded for identity
            "turns": [],  # the best rotation toward each reached target
            "rests": [],  # the best resting face of each reached target
            "worst": 0.0,
        }

    def step(
        self,
        progress: dict[str, Any],
        challenge: Challenge,
        reference: Frame,
        frame: Frame,
        settings: VerifierSettings,
    ) -> Verdict | None:
        index = progress["step"]
        target = challenge.targets[index]
        toward = self._toward(progress, challenge, reference, frame)
        if index == 0:
            progress["worst"] = min(progress["worst"], toward)
            if toward < -settings.wrong_direction_deg:
                return Verdict(Reason.WRONG_DIRECTION, self._checks(progress, challenge, reference, settings))
        framing = Framing.of(challenge, settings)
        if not framing.in_target(target, frame.face.nose):
            progress["held"], progress["rest_best"], progress["rest_face"] = 0, None, None
            return None
        # The nose must rest in the target, not sweep through it; the turn is judged on the
        # best frame of the rest, as a person settles there rather than at its first frame.
        progress["held"] += 1
        if progress["rest_best"] is None or toward > progress["rest_best"]:
            progress["rest_best"], progress["rest_face"] = toward, frame.face.to_dict()
            progress["rest_frame"] = frame.milestone
        if not framing.rested(progress["held"]):
            return None
        return self._reached(progress, challenge, reference, settings)

    def incomplete(
        self, progress: dict[str, Any], challenge: Challenge, reference: Frame, settings: VerifierSettings
    ) -> Verdict:
        return Verdict(Reason.TIMEOUT, self._checks(progress, challenge, reference, settings))

    def _reached(
        self, progress: dict[str, Any], challenge: Challenge, reference: Frame, settings: VerifierSettings
    ) -> Verdict | None:
        progress["turns"].append(round(progress["rest_best"], 3))
        progress["rests"].append(progress["rest_face"])
        progress["milestones"].append(progress["rest_frame"])
        progress["origin"] = progress["rest_face"]
        progress["step"] += 1
        progress["held"], progress["rest_best"], progress["rest_face"] = 0, None, None
        if progress["turns"][-1] < settings.min_rotation_deg:
            return Verdict(Reason.NO_ROTATION, self._checks(progress, challenge, reference, settings))
        if progress["step"] < len(challenge.targets):
            return None
        checks = self._checks(progress, challenge, reference, settings)
        planar = next(c for c in checks if c.name == "nonplanarity")
        return Verdict(Reason.PASSED if planar.passed else Reason.PLANAR_MOTION, checks)

    @staticmethod
    def _toward(progress: dict[str, Any], challenge: Challenge, reference: Frame, frame: Frame) -> float:
        """Degrees turned toward the current target since the previous rest (or the first framed frame)."""
        index = progress["step"]
        target = challenge.targets[index].centre
        if index == 0:
            side = 1.0 if target[0] >= challenge.image_width / 2 else -1.0
            return rotation_toward(reference.face, frame.face, (side, 0.0))
        direction = _direction(challenge.targets[index - 1].centre, target)
        return rotation_toward(Face.trusted(progress["origin"]), frame.face, direction)

    @staticmethod
    def _checks(
        progress: dict[str, Any], challenge: Challenge, reference: Frame, settings: VerifierSettings
    ) -> list[Check]:
        reached = len(progress["turns"])
        weakest = min(progress["turns"]) if progress["turns"] else None
        # Over the whole motion: the first framed frame against each rest, the largest residual.
        # A flat picture maps every view onto every other by a homography; a head turned to
        # both sides cannot.
        residual = max(
            (nonplanarity(reference.face, Face.trusted(rest)) for rest in progress["rests"]), default=0.0
        )
        return [
            Check(
                "targets_reached",
                float(reached),
                float(len(challenge.targets)),
                reached >= len(challenge.targets),
            ),
            Check(
                "rotation_toward_target_deg",
                weakest,
                settings.min_rotation_deg,
                weakest is not None and weakest >= settings.min_rotation_deg,
            ),
            Check(
                "rotation_away_deg",
                round(-progress["worst"], 2),
                settings.wrong_direction_deg,
                -progress["worst"] <= settings.wrong_direction_deg,
            ),
            Check(
                "nonplanarity",
                round(residual, 5),
                settings.min_nonplanarity,
                residual >= settings.min_nonplanarity,
            ),
        ]
