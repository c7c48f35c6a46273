"""When a stream has waited long enough for its client: counted from its last frame or control message.

Only what the client sends counts. WebSocket pings and pongs do not: they
prove the connection is up, not that a person is taking the challenge, and a
client that only pings would otherwise hold a stream (and its slot) forever.
Time in which the gateway itself did not read the socket (its own publish
back-pressure) is not counted against the client either.
"""

from __future__ import annotations


class StreamDeadline:
    """``idle_s`` after the client's last message; ``end_wait_s`` after its end, for the decision.

    Times are milliseconds of a monotonic clock, passed in.
    """

    def __init__(self, idle_s: float, end_wait_s: float, opened_ms: float) -> None:
        self.idle_ms, self.end_wait_ms = idle_s * 1000, end_wait_s * 1000
        self.heard_ms = opened_ms
        self.ended = False

    def heard(self, now_ms: float) -> None:
        """The client sent a frame or a control message."""
        self.heard_ms = max(self.heard_ms, now_ms)

    def end(self, now_ms: float) -> None:
        """The client sent its end: from now on the wait is for the decision."""
        self.heard(now_ms)
        self.ended = True

    def paused(self, span_ms: float) -> None:
        """The gateway did not read the socket for ``span_ms``: the client's time stood still meanwhile."""
        self.heard_ms += max(0.0, span_ms)

    @property
    def at_ms(self) -> float:
        return self.heard_ms + (self.end_wait_ms if self.ended else self.idle_ms)

    def remaining_s(self, now_ms: float) -> float:
        return max(0.0, self.at_ms - now_ms) / 1000
