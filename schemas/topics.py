"""Topic names of the pipeline; their partition counts and configs are listed in ``runtime/topics.py``."""

from __future__ import annotations

from dataclasses import dataclass

SESSIONS = "liveness.sessions"
FRAMES = "liveness.frames"
OBSERVATIONS = "liveness.observations"
DECISIONS = "liveness.decisions"
DEAD_LETTERS = "liveness.dead-letters"
IDENTITY_REQUESTS = "liveness.identity-requests"
# Reference and audit images of decided sessions: compacted, keyed <session_id>/<seq>, each record
# on its session's partition (so a reader finds a session's evidence in one partition).
EVIDENCE = "liveness.evidence"


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

    @property
    def evidence(self) -> str:
        return self.prefix + EVIDENCE
