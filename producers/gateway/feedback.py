"""Live feedback for the person taking the challenge: what their last frame showed, and a hint.

Advisory only: the verifier decides, and it decides from the observations
themselves. The hints follow the verifier's framing rules (area box, minimum
fill, the tolerance once framed) so that following them leads to a pass.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Box, Challenge, Decision, Face, Observation
from schemas.reasons import Reason
from verifier.framing import Framing, nose_targets
from verifier.settings import VerifierSettings

# Hint codes; the web client turns each into a short sentence.
UNREADABLE = "unreadable"
NO_FACE = "no_face"
ONE_FACE = "one_face"
MOVE_BACK = "move_back"
CENTRE_FACE = "centre_face"
MOVE_CLOSER = "move_closer"
NOSE_TO_TARGET = "nose_to_target"
HOLD_STILL = "hold_still"
FOLLOW_CHALLENGE = "follow_challenge"


class FeedbackTracker:
    """Turns one session's observations into feedback messages; remembers whether the face was framed."""

    def __init__(self, challenge: Challenge, settings: VerifierSettings | None = None) -> None:
        self.challenge = challenge
        self.framing = Framing.of(challenge, settings or VerifierSettings())
        self.framed = False  # once framed, the verifier lets the face drift by its area tolerance
        # The target the nose is asked for now, and for how many frames it has rested there: a
        # sequence moves on to its next target once the nose rested as long as the verifier asks.
        self.targets = nose_targets(challenge)
        self.step, self.held = 0, 0

    def observation(self, obs: Observation) -> dict[str, Any]:
        """The feedback message of one observation, in the challenge's image coordinates."""
        face = _scaled_face(obs, self.challenge) if len(obs.faces) == 1 else None
        message: dict[str, Any] = {
            "type": "observation",
            "seq": obs.seq,
            "faces": len(obs.faces),
            "face_box": _box_dict(face[0]) if face else None,
            "nose": list(face[1]) if face else None,
            "in_area": False,
            "fill": None,
            "nose_in_target": False,
        }
        if obs.error is not None:
            return {**message, "hint": UNREADABLE}
        if face is None:
            return {**message, "hint": NO_FACE if not obs.faces else ONE_FACE}
        return {**message, **self._framing(*face)}

    def _framing(self, box: Box, nose: tuple[float, float]) -> dict[str, Any]:
        framing = self.framing
        fill = framing.fill(box)
        problem = None if self.framed else framing.problem(box)
        in_area = framing.stays(box) if self.framed else problem is not Reason.FACE_OUT_OF_AREA
        facts: dict[str, Any] = {"in_area": in_area, "fill": round(fill, 3)}
        if not in_area:
            return {**facts, "hint": MOVE_BACK if fill > 1.0 else CENTRE_FACE}
        if problem is Reason.FACE_TOO_SMALL:
            return {**facts, "hint": MOVE_CLOSER}
        self.framed = True
        if not self.targets:
            return {**facts, "hint": FOLLOW_CHALLENGE}
        in_target = framing.in_target(self.targets[self.step], nose)
        progress = {"step": self.step, "steps": len(self.targets), "nose_in_target": in_target}
        self.held = self.held + 1 if in_target else 0
        if framing.rested(self.held) and self.step + 1 < len(self.targets):
            self.step, self.held = self.step + 1, 0
        return {**facts, **progress, "hint": HOLD_STILL if in_target else NOSE_TO_TARGET}


def _scaled_face(obs: Observation, challenge: Challenge) -> tuple[Box, tuple[float, float]]:
    """The face's box and nose moved into the challenge's image size (frames may be sent smaller)."""
    face: Face = obs.faces[0]
    sx, sy = challenge.image_width / obs.image_width, challenge.image_height / obs.image_height
    b = face.box
    box = Box(round(b.left * sx, 1), round(b.top * sy, 1), round(b.width * sx, 1), round(b.height * sy, 1))
    return box, (round(face.nose[0] * sx, 1), round(face.nose[1] * sy, 1))


def _box_dict(box: Box) -> dict[str, float]:
    return {"left": box.left, "top": box.top, "width": box.width, "height": box.height}


def decision_message(decision: Decision) -> dict[str, Any]:
    """The last message of a stream: the verifier's decision, as published."""
    return {"type": "decision", "decision": decision.to_dict()}


def poll_response(decision: Decision | None) -> dict[str, Any]:
    """The body of ``GET /sessions/{id}``: the decision, or pending while there is none."""
    if decision is None:
        return {"status": "pending"}
    return {"status": "decided", "decision": decision.to_dict()}
