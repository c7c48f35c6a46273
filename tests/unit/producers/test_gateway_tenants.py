"""Tenants and API keys; attempt limits: plain values, no gateway."""

from __future__ import annotations

import pytest

from producers.gateway.attempts import AttemptLedger, AttemptPolicy, client_ref
from producers.gateway.tenants import TenantDirectory, key_digest, new_api_key, user_ref_digest
from schemas.errors import SchemaError
from schemas.events import Box, Challenge, Decision, SessionStarted

KEY, OLD = new_api_key(), new_api_key()
DIRECTORY = TenantDirectory.from_dict(
    {
        "tenants": [
            {
                "id": "acme",
                "keys": [{"sha256": key_digest(KEY)}, {"sha256": key_digest(OLD), "not_after_ms": 1_000}],
                "cors_origins": ["https://app.acme.example"],
            }
        ]
    }
)


def test_tenant_directory_authenticate_valid_key_and_overlap_window() -> None:
    assert DIRECTORY.authenticate(f"Bearer {KEY}", 5_000).tenant_id == "acme"  # type: ignore[union-attr]
    assert DIRECTORY.authenticate(f"Bearer {OLD}", 1_000).tenant_id == "acme"  # type: ignore[union-attr]
    assert DIRECTORY.authenticate(f"Bearer {OLD}", 1_001) is None
    assert DIRECTORY.authenticate(KEY, 0) is None  # no scheme
    assert DIRECTORY.authenticate(None, 0) is None
    assert DIRECTORY.authenticate(f"Bearer {new_api_key()}", 0) is None


@pytest.mark.parametrize(
    "origin", ["*", "https://*.acme.example", "https://app.acme.example/", "null", "ftp://x"]
)
def test_tenant_directory_wildcard_or_partial_origin_is_refused(origin: str) -> None:
    entry = {"id": "t", "keys": [{"sha256": "0" * 64}], "cors_origins": [origin]}
    with pytest.raises(SchemaError):
        TenantDirectory.from_dict({"tenants": [entry]})


def test_tenant_directory_plain_key_instead_of_digest_is_refused() -> None:
    with pytest.raises(SchemaError):
        TenantDirectory.from_dict({"tenants": [{"id": "t", "keys": [{"sha256": KEY}]}]})


def test_tenant_directory_demo_id_is_reserved() -> None:
    with pytest.raises(SchemaError):
        TenantDirectory.from_dict({"tenants": [{"id": "demo", "keys": [{"sha256": "0" * 64}]}]})


def test_user_ref_digest_differs_per_tenant() -> None:
    assert user_ref_digest("a", "u1") != user_ref_digest("b", "u1")
    assert user_ref_digest("a", "u1") == user_ref_digest("a", "u1")


CHALLENGE = Challenge("nose", 640, 480, Box(0, 0, 640, 480), Box(10, 10, 20, 20))


def started(session_id: str, at_ms: int, user: str | None = "u", address: str = "1.2.3.4") -> SessionStarted:
    return SessionStarted(
        session_id, CHALLENGE, at_ms, at_ms + 180_000, "t", "acme", user, client_ref(address)
    )


def decided(session_id: str, outcome: str) -> Decision:
    reason = "PASSED" if outcome == "pass" else "NO_FACE"
    return Decision(session_id, outcome, reason, "nose", (), 0, 0, 0, 0)


def test_attempt_ledger_user_refused_after_n_unsuccessful_until_the_oldest_leaves_the_window() -> None:
    ledger = AttemptLedger(AttemptPolicy(max_failed_per_user=2, max_failed_per_address=100, window_s=60))
    ledger.started(started("s1", 1_000))
    ledger.started(started("s2", 11_000))
    ledger.decided(decided("s1", "fail"))
    refused = ledger.refusal("acme", "u", client_ref("1.2.3.4"), 20_000)
    assert refused is not None and refused.scope == "user" and refused.retry_after_s == 41
    assert ledger.refusal("acme", "u", client_ref("1.2.3.4"), 61_001) is None
    assert ledger.refusal("acme", "other", client_ref("1.2.3.4"), 20_000) is None


def test_attempt_ledger_passed_session_does_not_count_even_if_its_decision_came_first() -> None:
    ledger = AttemptLedger(AttemptPolicy(max_failed_per_user=1, max_failed_per_address=100, window_s=60))
    ledger.decided(decided("s1", "pass"))
    ledger.started(started("s1", 1_000))
    assert ledger.refusal("acme", "u", None, 2_000) is None


def test_attempt_ledger_address_limit_counts_every_user_of_the_address() -> None:
    ledger = AttemptLedger(AttemptPolicy(max_failed_per_user=100, max_failed_per_address=2, window_s=60))
    ledger.started(started("s1", 1_000, user="a"))
    ledger.started(started("s2", 1_000, user="b"))
    assert ledger.refusal("acme", "c", client_ref("1.2.3.4"), 2_000).scope == "address"  # type: ignore[union-attr]
    assert ledger.refusal("acme", "c", client_ref("5.6.7.8"), 2_000) is None


def test_attempt_ledger_same_start_twice_counts_once() -> None:
    ledger = AttemptLedger(AttemptPolicy(max_failed_per_user=2, max_failed_per_address=100, window_s=60))
    ledger.started(started("s1", 1_000))
    ledger.started(started("s1", 1_000))  # this process's own, then read back from the topic
    assert ledger.refusal("acme", "u", None, 2_000) is None
