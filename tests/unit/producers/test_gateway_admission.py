"""Who may create a session or open a stream: per-address and global limits, driven with numbers."""

from __future__ import annotations

import pytest

from producers.gateway.admission import CreationLimiter, StreamSlots, Throttled, address_key
from producers.gateway.settings import GatewayLimits

LIMITS = GatewayLimits(
    sessions_per_address_per_s=0.5, session_burst_per_address=3, sessions_per_s=2.0, session_burst=5
)


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        (None, "unknown"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_address_key_counts_ipv4_addresses_and_ipv6_subscriber_networks(remote: str | None, key: str) -> None:
    assert address_key(remote) == key


def test_creation_limiter_one_address_beyond_its_burst_is_throttled_with_retry_after() -> None:
    limiter = CreationLimiter(LIMITS, 0)
    assert [limiter.admit("a", 0) for _ in range(3)] == [None, None, None]
    assert limiter.admit("a", 0) == Throttled("address", 2)  # one token every 2 s
    assert limiter.admit("a", 2000) is None


def test_creation_limiter_other_addresses_are_not_throttled_by_one() -> None:
    limiter = CreationLimiter(LIMITS, 0)
    for _ in range(4):
        limiter.admit("a", 0)
    assert limiter.admit("b", 0) is None


def test_creation_limiter_global_limit_refuses_everyone_and_takes_nothing_from_the_address() -> None:
    limiter = CreationLimiter(LIMITS, 0)
    for address in "abcde":
        assert limiter.admit(address, 0) is None
    assert limiter.admit("f", 0) == Throttled("global", 1)
    assert limiter.admit("f", 500) is None  # 2/s: a token after 0.5 s; f's own allowance untouched
    assert [limiter.admit("f", 10_000 + i) for i in range(3)] == [None, None, None]


def test_creation_limiter_forgets_addresses_once_their_allowance_is_back() -> None:
    limiter = CreationLimiter(LIMITS, 0)
    for i in range(5):
        limiter.admit(f"10.0.0.{i}", i * 1000)
    assert len(limiter.per_address) == 5
    limiter.admit("10.0.1.1", 60_000)
    assert len(limiter.per_address) == 1


def test_stream_slots_per_address_and_total() -> None:
    slots = StreamSlots(max_streams=3, max_per_address=2)
    slots.open("a")
    slots.open("a")
    assert slots.refusal("a") == "address"
    assert slots.refusal("b") is None
    slots.open("b")
    assert slots.refusal("c") == "total"
    slots.close("a")
    assert (slots.refusal("a"), slots.of("a"), slots.total) == (None, 1, 2)
    slots.close("a")
    slots.close("b")
    assert (slots.total, slots.of("a"), slots.of("b")) == (0, 0, 0)
