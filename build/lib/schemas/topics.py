"""Topic names of the pipeline; every session-keyed topic shares one partition count."""

from __future__ import annotations

from dataclasses import dataclass

SESSIONS = "liveness.sessions"
FRAMES = "liveness.frames"
OBSERVATIONS = "liveness.observations"
DECISIONS = "liveness.decisions"
DEAD_LETTERS = "liveness.dead-letters"
IDENTITY_REQUESTS = "liveness.identity-requests"


@dataclass(frozen=True)
class Topics:
    """The topic names under an optional prefix (one prefix per environment or test)."""

    prefix: str = ""

    @property
    def sessions(self) -> str:
        return self.prefix + SESSIONS

    @property
    def frames(self) -> str:
        return self.prefix + FRAMES

    @property
    def observations(self) -> str:
        return self.prefix + OBSERVATIONS

    @property
    def decisions(self) -> str:
        return self.prefix + DECISIONS

    @property
    def dead_letters(self) -> str:
        return self.prefix + DEAD_LETTERS

    @property
    def identity_requests(self) -> str:
        return self.prefix + IDENTITY_REQUESTS

    def session_keyed(self) -> tuple[str, ...]:
        """Topics that must be co-partitioned: the verifier joins them by session id."""
        return (self.sessions, self.frames, self.observations, self.decisions, self.identity_requests)

    def all(self) -> tuple[str, ...]:
        return (*self.session_keyed(), self.dead_letters)
