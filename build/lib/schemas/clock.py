"""The server's wall clock in milliseconds, the one clock every deadline is judged on."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
