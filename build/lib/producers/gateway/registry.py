"""What one gateway process remembers: the sessions it created, and recent decisions (bounded LRU)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from producers.gateway.errors import (
    AlreadyStreamed,
    BadToken,
    RegistryFull,
    SessionExpired,
    UnknownSession,
)
from schemas.events import Decision, SessionStarted
from schemas.tokens import TokenError, TokenKeys, signed_expiry, verify_token


@dataclass
class GatewaySession:
    """A session this process created; it may be streamed once."""

    started: SessionStarted
    streamed: bool = False


class SessionRegistry:
    """Sessions by id, oldest first, until their start window is over; never more than ``max_sessions``.

    A live session is never dropped to make room: a gateway that forgot one
    would refuse its rightful holder (4404), and anyone able to create sessions
    fast could evict everyone else's. A full registry refuses new sessions
    instead (``RegistryFull``), which the creation limits make rare.
    """

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, GatewaySession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def has_room(self, now_ms: int) -> bool:
        """Whether a session can be added now (expired ones are pruned first)."""
        self._prune(now_ms)
        return len(self._sessions) < self.max_sessions

    def add(self, started: SessionStarted, now_ms: int) -> None:
        """Remember ``started``; raises ``RegistryFull`` rather than drop a live session."""
        if not self.has_room(now_ms):
            raise RegistryFull(f"{self.max_sessions} live sessions")
        self._sessions[started.session_id] = GatewaySession(started)

    def room_in_ms(self, now_ms: int) -> int:
        """How long until an entry expires and frees room (0 if there is room now)."""
        if self.has_room(now_ms):
            return 0
        oldest = next(iter(self._sessions.values()))
        return max(0, oldest.started.expires_at_ms + 1 - now_ms)

    def get(self, session_id: str) -> GatewaySession | None:
        return self._sessions.get(session_id)

    def _prune(self, now_ms: int) -> None:
        # Sessions are added in time order with the same start window, so the oldest expire first.
        # Past its expiry a session can no longer be streamed, and its holder is told so from the
        # token's own signed expiry (``admit_stream``), so nothing of it needs to be kept.
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now_ms <= oldest.started.expires_at_ms:
                return
            self._sessions.popitem(last=False)


def admit_stream(
    registry: SessionRegistry, keys: TokenKeys, session_id: str, token: str, now_ms: int
) -> GatewaySession:
    """The session a stream may open, or the reason it may not: expired, unknown, bad token, taken.

    An authentic token of this session past its signed expiry gets 4410 whether
    or not the session is still remembered; any other token learns nothing
    about the session but that this gateway does not know it or the token is bad.
    """
    expires_at_ms = signed_expiry(keys, token, session_id, now_ms)
    if expires_at_ms is not None and now_ms > expires_at_ms:
        raise SessionExpired("session expired: create a new one")
    session = registry.get(session_id)
    if session is None:
        raise UnknownSession(
            f"session {session_id[:40]} was not created by this gateway: stream to the one that created it"
        )
    started = session.started
    try:
        verify_token(keys, token, session_id, started.challenge, now_ms)
    except TokenError as exc:
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
