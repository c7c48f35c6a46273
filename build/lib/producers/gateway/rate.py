"""Token buckets on a clock passed in: a steady rate with a small burst, alone or per client address."""

from __future__ import annotations


class TokenBucket:
    """``rate_per_s`` tokens a second up to ``capacity``; each frame (or request) takes one.

    Time is passed in (milliseconds of a monotonic clock), so the bucket is plain
    arithmetic and a test drives it with numbers.
    """

    def __init__(self, rate_per_s: float, capacity: int, now_ms: float) -> None:
        if rate_per_s <= 0 or capacity < 1:
            raise ValueError("the rate must be positive and the capacity at least one")
        self.rate_per_s, self.capacity = rate_per_s, capacity
        self.tokens = float(capacity)
        self.updated_ms = now_ms

    def _refill(self, now_ms: float) -> None:
        elapsed_s = max(0.0, now_ms - self.updated_ms) / 1000
        # A credit (below) may hold the bucket above its capacity; the refill never takes it away.
        self.tokens = max(self.tokens, min(float(self.capacity), self.tokens + elapsed_s * self.rate_per_s))
        self.updated_ms = max(self.updated_ms, now_ms)

    def take(self, now_ms: float) -> bool:
        """Take one token if there is one; ``False`` means the caller goes faster than the rate."""
        self._refill(now_ms)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def wait_ms(self, now_ms: float) -> float:
        """How long until a token is there (0 if one is): what a ``Retry-After`` says."""
        self._refill(now_ms)
        return max(0.0, (1.0 - self.tokens) / self.rate_per_s * 1000)

    def full(self, now_ms: float) -> bool:
        """A full bucket is the same as a fresh one: a keyed table may forget it."""
        self._refill(now_ms)
        return self.tokens >= self.capacity

    def credit(self, span_ms: float) -> None:
        """Add what ``span_ms`` at the rate gives, above the capacity if need be.

        For a span in which the caller could not be heard (the gateway stopped
        reading its socket): what it sent meanwhile arrives at once afterwards,
        and is judged as if each message had been read when it was sent.
        """
        self.tokens += max(0.0, span_ms) / 1000 * self.rate_per_s


class AddressBuckets:
    """One ``TokenBucket`` per client address, created by the first ``take`` and forgotten once full again.

    Looking an address up creates nothing, and a full bucket is the same as
    none, so the table holds only addresses that took a token within the last
    ``capacity / rate_per_s`` seconds: its size is bounded by how many takes
    the caller lets through in that time, not by how many addresses ask.
    """

    def __init__(self, rate_per_s: float, capacity: int) -> None:
        TokenBucket(rate_per_s, capacity, 0)  # validates the settings now, not at the first request
        self.rate_per_s, self.capacity = rate_per_s, capacity
        self._buckets: dict[str, TokenBucket] = {}
        self._pruned_ms: float | None = None

    def __len__(self) -> int:
        return len(self._buckets)

    def wait_ms(self, address: str, now_ms: float) -> float:
        """How long ``address`` must wait for a token (0: it may take one now)."""
        bucket = self._buckets.get(address)
        return 0.0 if bucket is None else bucket.wait_ms(now_ms)

    def take(self, address: str, now_ms: float) -> bool:
        self._prune(now_ms)
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.rate_per_s, self.capacity, now_ms)
        return bucket.take(now_ms)

    def _prune(self, now_ms: float) -> None:
        # At most once per refill time: each pass is linear in the table, which that time bounds.
        refill_ms = self.capacity / self.rate_per_s * 1000
        if self._pruned_ms is not None and now_ms - self._pruned_ms < refill_ms:
            return
        self._pruned_ms = now_ms
        for address in [a for a, b in self._buckets.items() if b.full(now_ms)]:
            del self._buckets[address]
