"""Challenge plug-ins, registered by name; the server picks among them by weight."""

from __future__ import annotations

from verifier.challenges.base import ChallengeType, Frame, Verdict, area_box
from verifier.challenges.blink import BlinkChallenge
from verifier.challenges.nose import NoseChallenge
from verifier.challenges.sequence import NoseSequenceChallenge
from verifier.challenges.turn import TurnChallenge

REGISTRY: dict[str, ChallengeType] = {
    challenge.name: challenge
    for challenge in (NoseChallenge(), NoseSequenceChallenge(), TurnChallenge(), BlinkChallenge())
}


def challenge_type(name: str) -> ChallengeType:
    """The plug-in for a challenge type name; ``KeyError`` names the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown challenge type {name!r}; known: {sorted(REGISTRY)}") from None


__all__ = ["REGISTRY", "ChallengeType", "Frame", "Verdict", "area_box", "challenge_type"]
