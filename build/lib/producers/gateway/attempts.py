"""Attempt limits: at most N unsuccessful sessions per user and per client address in a window.

The state is not this process's memory: every gateway reads the sessions topic
(each start names its tenant, hashed user and hashed client address) and the
decisions topic (each outcome) from a window back, so a restarted gateway and
every gateway behind a load balancer count the same attempts. An attempt counts
from its start until it passes: a session still running counts, or an attacker
could open N+1 sessions at once before any of them failed.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass

from schemas.events import Decision, SessionStarted


def client_ref(address_key: str) -> str:
    """What a session start says of its client address: a digest, never the address."""
    return hashlib.sha256(b"liveness-stream:client-ref:v1\x00" + address_key.encode()).hexdigest()


@dataclass(frozen=True)
class AttemptPolicy:
    """How many unsuccessful attempts per user and per client address, within which window."""

    max_failed_per_user: int = 5
    # Higher: several people may share one address (an office, a carrier's NAT).
    max_failed_per_address: int = 20
    window_s: float = 900.0


@dataclass
class _Attempt:
    at_ms: int
    tenant: str | None
    keys: tuple[str, ...]
    passed: bool = False


@dataclass(frozen=True)
class TooManyAttempts:
    """A refused creation: ``scope`` is ``user`` or ``address``; retry once the oldest attempt is out."""

    scope: str
    retry_after_s: int


class AttemptLedger:
    """The sessions started within the window and whether each passed, from the topics."""

    def __init__(self, policy: AttemptPolicy) -> None:
        self.policy = policy
        self._attempts: OrderedDict[str, _Attempt] = OrderedDict()  # by session id, oldest first
        self._passed: set[str] = set()  # decisions read before their start (another partition)

    def __len__(self) -> int:
        return len(self._attempts)

    def started(self, event: SessionStarted) -> None:
        """A session start (read from the topic, or just published by this process)."""
        if event.session_id in self._attempts:
            return
        keys = tuple(
            key
            for key in (_user_key(event), f"a:{event.client_ref}" if event.client_ref else None)
            if key is not None
        )
        attempt = _Attempt(event.issued_at_ms, event.tenant, keys, event.session_id in self._passed)
        self._passed.discard(event.session_id)
        self._attempts[event.session_id] = attempt

    def decided(self, decision: Decision) -> None:
        if decision.outcome != "pass":
            return
        attempt = self._attempts.get(decision.session_id)
        if attempt is not None:
            attempt.passed = True
        elif len(self._passed) < 100_000:
            self._passed.add(decision.session_id)

    def owner(self, session_id: str) -> str | None:
        """The tenant of a session started within the window."""
        attempt = self._attempts.get(session_id)
        return attempt.tenant if attempt else None

    def refusal(
        self, tenant: str, user_ref: str | None, client: str | None, now_ms: int
    ) -> TooManyAttempts | None:
        """Why a new session for this user / from this address is refused now, or ``None``."""
        self._prune(now_ms)
        horizon = now_ms - self.policy.window_s * 1000
        limits = []
        if user_ref is not None:
            limits.append(("user", f"u:{tenant}:{user_ref}", self.policy.max_failed_per_user))
        if client is not None:
            limits.append(("address", f"a:{client}", self.policy.max_failed_per_address))
        for scope, key, limit in limits:
            counted = [
                a.at_ms
                for a in self._attempts.values()
                if not a.passed and a.at_ms > horizon and key in a.keys
            ]
            if len(counted) >= limit:
                oldest = sorted(counted)[len(counted) - limit]  # the one whose expiry frees a place
                wait_ms = oldest + self.policy.window_s * 1000 - now_ms
                return TooManyAttempts(scope, max(1, math.ceil(wait_ms / 1000)))
        return None

    def _prune(self, now_ms: int) -> None:
        horizon = now_ms - self.policy.window_s * 1000
        while self._attempts:
            oldest = next(iter(self._attempts.values()))
            if oldest.at_ms > horizon:
                return
            self._attempts.popitem(last=False)


def _user_key(event: SessionStarted) -> str | None:
    if event.user_ref is None:
        return None
    return f"u:{event.tenant}:{event.user_ref}"
