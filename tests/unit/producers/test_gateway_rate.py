"""The gateway's token bucket: a steady rate passes, a flood is cut after the burst allowance."""

from __future__ import annotations

import pytest

from producers.gateway.rate import TokenBucket


def test_token_bucket_steady_rate_below_limit_always_passes() -> None:
    bucket = TokenBucket(rate_per_s=15, capacity=5, now_ms=0)
    assert all(bucket.take(now_ms=i * 100) for i in range(300))  # 10 fps for 30 s


def test_token_bucket_flood_passes_only_the_burst() -> None:
    bucket = TokenBucket(rate_per_s=15, capacity=5, now_ms=0)
    assert [bucket.take(now_ms=0) for _ in range(8)] == [True] * 5 + [False] * 3


def test_token_bucket_refills_at_the_rate_after_a_flood() -> None:
    bucket = TokenBucket(rate_per_s=10, capacity=5, now_ms=0)
    for _ in range(5):
        bucket.take(0)
    assert not bucket.take(50)  # half a token
    assert bucket.take(100)  # one token after 1/10 s


def test_token_bucket_sustained_rate_over_limit_is_refused_within_seconds() -> None:
    bucket = TokenBucket(rate_per_s=15, capacity=5, now_ms=0)
    refused_at = next(i for i in range(1000) if not bucket.take(now_ms=i * 50))  # 20 fps
    assert refused_at * 50 < 2000


def test_token_bucket_clock_going_back_gives_no_tokens() -> None:
    bucket = TokenBucket(rate_per_s=15, capacity=1, now_ms=1000)
    assert bucket.take(1000)
    assert not bucket.take(0)


@pytest.mark.parametrize(("rate", "capacity"), [(0, 5), (-1, 5), (15, 0)])
def test_token_bucket_invalid_settings_raise(rate: float, capacity: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, capacity, 0)


def test_token_bucket_credit_lets_the_frames_sent_during_our_pause_pass() -> None:
    """Paused 2 s: the 20 frames a 10 fps client sent meanwhile arrive at once and all pass."""
    bucket = TokenBucket(rate_per_s=15, capacity=5, now_ms=0)
    assert all(bucket.take(i * 100) for i in range(10))
    bucket.credit(2000)
    assert all(bucket.take(3000) for _ in range(20))


def test_token_bucket_without_credit_a_pause_burst_is_refused() -> None:
    bucket = TokenBucket(rate_per_s=15, capacity=5, now_ms=0)
    assert all(bucket.take(i * 100) for i in range(10))
    assert not all(bucket.take(3000) for _ in range(20))


def test_token_bucket_credit_is_not_lost_to_the_capacity_on_refill() -> None:
    bucket = TokenBucket(rate_per_s=10, capacity=2, now_ms=0)
    bucket.credit(1000)  # 10 tokens above the 2
    assert bucket.tokens == 12
    bucket.take(5000)
    assert bucket.tokens == 11


def test_token_bucket_wait_ms_is_the_time_to_the_next_token() -> None:
    bucket = TokenBucket(rate_per_s=0.5, capacity=1, now_ms=0)
    assert bucket.wait_ms(0) == 0
    bucket.take(0)
    assert bucket.wait_ms(500) == 1500
