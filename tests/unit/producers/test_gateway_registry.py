"""The sessions a gateway created, who may stream them, and the bounded cache of decisions."""

from __future__ import annotations

import secrets

import pytest

from producers.challenge_service import ChallengePolicy, ChallengeService
from producers.gateway.errors import (
    AlreadyStreamed,
    BadToken,
    RegistryFull,
    SessionExpired,
    UnknownSession,
)
from producers.gateway.registry import DecisionCache, SessionRegistry, admit_stream
from schemas.events import Decision, SessionStarted
from schemas.tokens import TokenKeys

KEYS = TokenKeys(secrets.token_bytes(32))
SERVICE = ChallengeService(KEYS, ChallengePolicy(start_within_s=60))


def _started(now_ms: int = 1_000_000) -> SessionStarted:
    return SERVICE.start(now_ms)


def _registry(*started: SessionStarted) -> SessionRegistry:
    registry = SessionRegistry(max_sessions=100)
    for event in started:
        registry.add(event, event.issued_at_ms)
    return registry


def test_admit_stream_valid_token_opens_the_session_once() -> None:
    started = _started()
    registry = _registry(started)
    session = admit_stream(registry, KEYS, started.session_id, started.token, 1_000_500)
    assert session.started == started
    with pytest.raises(AlreadyStreamed) as refused:
        admit_stream(registry, KEYS, started.session_id, started.token, 1_000_600)
    assert refused.value.close_code == 4409


def test_admit_stream_unknown_session_is_refused_4404() -> None:
    started = _started()
    with pytest.raises(UnknownSession, match="not created by this gateway") as refused:
        admit_stream(_registry(), KEYS, started.session_id, started.token, 1_000_500)
    assert refused.value.close_code == 4404


@pytest.mark.parametrize("token", ["", "garbage", "a.b"])
def test_admit_stream_malformed_token_is_refused_4401(token: str) -> None:
    started = _started()
    with pytest.raises(BadToken) as refused:
        admit_stream(_registry(started), KEYS, started.session_id, token, 1_000_500)
    assert refused.value.close_code == 4401


def test_admit_stream_token_of_another_session_is_refused_4401() -> None:
    started, other = _started(), _started()
    with pytest.raises(BadToken, match="another session"):
        admit_stream(_registry(started, other), KEYS, started.session_id, other.token, 1_000_500)


def test_admit_stream_token_signed_with_another_secret_is_refused_4401() -> None:
    started = _started()
    forged = ChallengeService(TokenKeys(secrets.token_bytes(32))).start(
        1_000_000, challenge=started.challenge
    )
    with pytest.raises(BadToken, match="bad signature"):
        admit_stream(_registry(started), KEYS, started.session_id, forged.token, 1_000_500)


def test_admit_stream_after_expiry_is_refused_4410_and_not_marked_streamed() -> None:
    started = _started()
    registry = _registry(started)
    with pytest.raises(SessionExpired) as refused:
        admit_stream(registry, KEYS, started.session_id, started.token, started.expires_at_ms + 1)
    assert refused.value.close_code == 4410
    entry = registry.get(started.session_id)
    assert entry is not None and not entry.streamed


def test_admit_stream_bad_token_after_expiry_still_says_bad_token() -> None:
    started, other = _started(), _started()
    with pytest.raises(BadToken):
        admit_stream(_registry(started), KEYS, started.session_id, other.token, started.expires_at_ms + 1)


def test_admit_stream_token_long_past_expiry_of_a_forgotten_session_is_refused_4410() -> None:
    started = _started()
    with pytest.raises(SessionExpired):
        admit_stream(_registry(), KEYS, started.session_id, started.token, started.expires_at_ms + 600_000)


def test_session_registry_drops_sessions_once_expired_when_new_ones_come() -> None:
    old = _started(1_000_000)
    new = _started(old.expires_at_ms + 1)
    registry = _registry(old, new)
    assert registry.get(old.session_id) is None and registry.get(new.session_id) is not None


def test_session_registry_full_refuses_a_new_session_and_keeps_every_live_one() -> None:
    registry = SessionRegistry(max_sessions=3)
    events = [_started() for _ in range(4)]
    for event in events[:3]:
        registry.add(event, 1_000_000)
    assert not registry.has_room(1_000_000)
    with pytest.raises(RegistryFull):
        registry.add(events[3], 1_000_000)
    assert [registry.get(e.session_id) is not None for e in events] == [True, True, True, False]
    assert registry.room_in_ms(1_000_000) == events[0].expires_at_ms + 1 - 1_000_000


def test_session_registry_full_makes_room_once_the_oldest_expires() -> None:
    registry = SessionRegistry(max_sessions=2)
    first, second, third = _started(), _started(1_000_100), _started(1_000_200)
    registry.add(first, 1_000_000)
    registry.add(second, 1_000_100)
    registry.add(third, first.expires_at_ms + 1)
    assert (registry.get(first.session_id), len(registry)) == (None, 2)


def _decision(session_id: str, outcome: str = "pass") -> Decision:
    return Decision(session_id, outcome, "PASSED" if outcome == "pass" else "TIMEOUT", "nose", (), 1, 0, 0, 0)


def test_decision_cache_keeps_the_first_decision_of_a_session() -> None:
    cache = DecisionCache(max_entries=10)
    assert cache.put(_decision("a", "fail"))
    assert not cache.put(_decision("a", "pass"))
    decision = cache.get("a")
    assert decision is not None and decision.outcome == "fail"


def test_decision_cache_drops_the_least_recently_used_beyond_its_size() -> None:
    cache = DecisionCache(max_entries=2)
    cache.put(_decision("a"))
    cache.put(_decision("b"))
    cache.get("a")  # a is now more recent than b
    cache.put(_decision("c"))
    assert (cache.get("a") is not None, cache.get("b"), cache.get("c") is not None) == (True, None, True)
    assert len(cache) == 2
