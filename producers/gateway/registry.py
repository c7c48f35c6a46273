"""What one gateway process remembers: the sessions it created, and recent decisions (bounded LRU)."""

from __future__ import annotations

import hmac
from collections import OrderedDict
from dataclasses import dataclass

from producers.gateway.errors import AlreadyStreamed, BadToken, SessionExpired, UnknownSession
from schemas.events import Decision, SessionStarted
from schemas.tokens import TokenError, TokenKeys, verify_token


@dataclass
class GatewaySession:
    """A session this process created; it may be streamed once."""

    started: SessionStarted
    streamed: bool = False


class SessionRegistry:
    """Sessions by id, oldest first; expired ones are dropped as new ones come in."""

    def __init__(self, max_sessions: int, keep_after_expiry_ms: int) -> None:
        self.max_sessions, self.keep_after_expiry_ms = max_sessions, keep_after_expiry_ms
        self._sessions: OrderedDict[str, GatewaySession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, started: SessionStarted, now_ms: int) -> None:
        self._prune(now_ms)
        self._sessions[started.session_id] = GatewaySession(started)

    def get(self, session_id: str) -> GatewaySession | None:
        return self._sessions.get(session_id)

    def _prune(self, now_ms: int) -> None:
        # Sessions are added in time order with the same start window, so the oldest expire first.
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            gone = now_ms > oldest.started.expires_at_ms + self.keep_after_expiry_ms
            if not (gone or len(self._sessions) >= self.max_sessions):
                return
            self._sessions.popitem(last=False)


def admit_stream(
    registry: SessionRegistry, keys: TokenKeys, session_id: str, token: str, now_ms: int
) -> GatewaySession:
    """The session a stream may open, or the reason it may not: unknown, bad token, expired, taken.

    The token is checked first, so only its holder learns whether the session expired.
    """
    session = registry.get(session_id)
    if session is None:
        raise UnknownSession(
            f"session {session_id[:40]} was not created by this gateway: stream to the one that created it"
        )
    started = session.started
    try:
        verify_token(keys, token, session_id, started.challenge, now_ms)
    except TokenError as exc:
        if hmac.compare_digest(token.encode(), started.token.encode()) and now_ms > started.expires_at_ms:
            raise SessionExpired("session expired: create a new one") from None
        raise BadToken(f"bad token: {exc}") from None
    if session.streamed:
        raise AlreadyStreamed("this session was already streamed: create a new one")
    session.streamed = True
    return session


class DecisionCache:
    """The first decision of each session, least recently used dropped beyond ``max_entries``."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._decisions: OrderedDict[str, Decision] = OrderedDict()

    def __len__(self) -> int:
        return len(self._decisions)

    def put(self, decision: Decision) -> bool:
        """Keep ``decision`` unless its session has one already (one decision per session, ever)."""
        if decision.session_id in self._decisions:
            return False
        self._decisions[decision.session_id] = decision
        if len(self._decisions) > self.max_entries:
            self._decisions.popitem(last=False)
        return True

    def get(self, session_id: str) -> Decision | None:
        decision = self._decisions.get(session_id)
        if decision is not None:
            self._decisions.move_to_end(session_id)
        return decision
