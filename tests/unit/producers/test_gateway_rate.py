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
