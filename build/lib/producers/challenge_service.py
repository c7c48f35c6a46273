"""The challenge service: the server draws the challenge, signs it and sets its expiry.

Nothing a client sends reaches this module: the type is drawn from the
server's configured weights, the target from a cryptographic random source
over a continuous range, and the token binds both to the session id.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.events import Challenge, SessionStarted
from schemas.tokens import TokenKeys, issue_token
from verifier.challenges import challenge_type

DEFAULT_WEIGHTS: Mapping[str, float] = {"nose_sequence": 1.0}


@dataclass(frozen=True)
class ChallengePolicy:
    """Which challenge types the server hands out, how often, and how long a session may wait to start."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    start_within_s: float = 180.0  # managed liveness services give about three minutes
    image_width: int = 640
    image_height: int = 480

    def __post_init__(self) -> None:
        values = list(self.weights.values())
        # NaN passes "w < 0" and "sum <= 0", then every draw fails; infinity too.
        if not values or not all(math.isfinite(w) and w >= 0 for w in values) or sum(values) <= 0:
            raise ValueError("challenge weights must be finite, non-negative, with a positive sum")
        for name in self.weights:
            challenge_type(name)


def parse_weights(text: str) -> dict[str, float]:
    """``"nose=3,turn=1"`` -> ``{"nose": 3.0, "turn": 1.0}`` (the environment's format)."""
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        weights[name.strip()] = float(value) if value else 1.0
    return weights


class ChallengeService:
    """Creates sessions: a fresh id, a drawn challenge, an expiry and a signed token."""

    def __init__(self, keys: TokenKeys, policy: ChallengePolicy | None = None) -> None:
        self._keys = keys
        self._policy = policy or ChallengePolicy()
        self._rng = secrets.SystemRandom()

    def draw(self, image_width: int | None = None, image_height: int | None = None) -> Challenge:
        """A challenge of a type picked by weight, for the given (or the default) frame size."""
        names = list(self._policy.weights)
        weights = [self._policy.weights[n] for n in names]
        name = self._rng.choices(names, weights=weights)[0]
        width = image_width or self._policy.image_width
        height = image_height or self._policy.image_height
        return challenge_type(name).draw(self._rng, width, height)

    def start(
        self,
        now_ms: int,
        challenge: Challenge | None = None,
        session_id: str | None = None,
    ) -> SessionStarted:
        """A signed session start. ``challenge`` is for trusted server-side callers (replay, tests)."""
        session_id = session_id or uuid.uuid4().hex
        challenge = challenge or self.draw()
        expires_at_ms = now_ms + int(self._policy.start_within_s * 1000)
        token = issue_token(self._keys, session_id, challenge, expires_at_ms)
        return SessionStarted(session_id, challenge, now_ms, expires_at_ms, token)
