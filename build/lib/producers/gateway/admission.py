"""Who may create a session or open a stream now: per-address and global limits, as plain arithmetic.

A session costs the gateway a registry entry until it expires, a start event
on Kafka and a verifier row; a stream holds one of a process's slots. Without a
limit per client address, one client could fill the registry or take every
slot, and legitimate people would be refused. The limits here answer "not now,
retry in N s" (HTTP 429 with ``Retry-After``, close code 4429): they never take
anything away from a session already given out.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from dataclasses import dataclass

from producers.gateway.rate import AddressBuckets, TokenBucket
from producers.gateway.settings import GatewayLimits

IPV6_CLIENT_PREFIX = 64  # one subscriber gets a whole /64: counting single IPv6 addresses limits nothing


def address_key(remote: str | None) -> str:
    """The client a limit counts: an IPv4 address, or the /64 network of an IPv6 address."""
    if not remote:
        return "unknown"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote  # a Unix socket or a test transport: counted as one client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True)
class Throttled:
    """A request refused for now; ``scope`` is ``address`` (this client) or ``global`` (everyone)."""

    scope: str
    retry_after_s: int


class CreationLimiter:
    """Session creations: a token bucket per client address and one for the whole process.

    A creation is let through only when both buckets have a token, and only
    then are tokens taken, so a client refused by the global limit loses
    nothing of its own allowance.
    """

    def __init__(self, limits: GatewayLimits, now_ms: float) -> None:
        self.per_address = AddressBuckets(limits.sessions_per_address_per_s, limits.session_burst_per_address)
        self.overall = TokenBucket(limits.sessions_per_s, limits.session_burst, now_ms)

    def admit(self, address: str, now_ms: float) -> Throttled | None:
        """``None`` when this address may create a session now (a token is taken), else why not."""
        wait_ms = self.per_address.wait_ms(address, now_ms)
        if wait_ms > 0:
            return Throttled("address", _retry_after_s(wait_ms))
        wait_ms = self.overall.wait_ms(now_ms)
        if wait_ms > 0:
            return Throttled("global", _retry_after_s(wait_ms))
        self.overall.take(now_ms)
        self.per_address.take(address, now_ms)
        return None


def _retry_after_s(wait_ms: float) -> int:
    return max(1, math.ceil(wait_ms / 1000))  # Retry-After is whole seconds


class StreamSlots:
    """Open streams, in total and per client address; ``open`` and ``close`` come in pairs."""

    def __init__(self, max_streams: int, max_per_address: int) -> None:
        self.max_streams, self.max_per_address = max_streams, max_per_address
        self._open: Counter[str] = Counter()
        self.total = 0

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not open a stream now (``total`` or ``address``), or ``None``."""
        if self.total >= self.max_streams:
            return "total"
        if self._open[address] >= self.max_per_address:
            return "address"
        return None

    def open(self, address: str) -> None:
        self._open[address] += 1
        self.total += 1

    def close(self, address: str) -> None:
        self.total -= 1
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]  # the table holds only addresses with an open stream

    def of(self, address: str) -> int:
        return self._open[address]
