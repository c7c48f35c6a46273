"""A token bucket on the gateway's clock: a steady frame rate with a small burst allowance."""

from __future__ import annotations


class TokenBucket:
    """``rate_per_s`` tokens a second up to ``capacity``; each frame takes one.

    Time is passed in (milliseconds of a monotonic clock), so the bucket is plain
    arithmetic and a test drives it with numbers.
    """

    def __init__(self, rate_per_s: float, capacity: int, now_ms: float) -> None:
        if rate_per_s <= 0 or capacity < 1:
            raise ValueError("the rate must be positive and the capacity at least one")
        self.rate_per_s, self.capacity = rate_per_s, capacity
        self.tokens = float(capacity)
        self.updated_ms = now_ms

    def take(self, now_ms: float) -> bool:
        """Take one token if there is one; ``False`` means the caller goes faster than the rate."""
        elapsed_s = max(0.0, now_ms - self.updated_ms) / 1000
        self.tokens = min(float(self.capacity), self.tokens + elapsed_s * self.rate_per_s)
        self.updated_ms = now_ms
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
