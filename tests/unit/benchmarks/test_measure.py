"""How many sessions a latency row's p99 is taken over."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.measure import P99_FROM_LOAD, P99_SESSIONS, rounds_for_p99, until_received


@pytest.mark.parametrize("concurrent", [P99_FROM_LOAD, 7, 8, 11, 14, 20])
def test_goal_loads_run_enough_rounds_for_a_p99_not_their_slowest_session(concurrent: int) -> None:
    turns = rounds_for_p99(concurrent, rounds=3)
    assert concurrent * turns >= P99_SESSIONS
    assert concurrent * (turns - 1) < P99_SESSIONS  # no more than needed: the bench's time


def test_small_loads_keep_the_rounds_asked_for() -> None:
    assert [rounds_for_p99(n, rounds=3) for n in range(1, P99_FROM_LOAD)] == [3] * (P99_FROM_LOAD - 1)


def test_more_rounds_asked_for_than_the_p99_needs_are_kept() -> None:
    assert rounds_for_p99(50, rounds=5) == 5


async def test_until_received_returns_once_every_session_has_arrived() -> None:
    received: dict[str, float] = {"a": 1.0}

    async def arrive_later() -> None:
        await asyncio.sleep(0.1)
        received["b"] = 2.0

    arrival = asyncio.create_task(arrive_later())
    await until_received(received, {"a", "b"}, timeout_s=5)
    assert arrival.done()
    await arrival


async def test_until_received_counts_the_missing_sessions_after_the_timeout() -> None:
    with pytest.raises(TimeoutError, match="1 of 2 decisions missing"):
        await until_received({"a": 1.0}, {"a", "b"}, timeout_s=0.1)


async def test_until_received_stops_waiting_when_its_reader_has_ended() -> None:
    async def failing_reader() -> None:
        raise ConnectionError("broker gone")

    reader = asyncio.create_task(failing_reader())
    started = asyncio.get_running_loop().time()
    await until_received({}, {"a"}, timeout_s=30, reader=reader)
    assert asyncio.get_running_loop().time() - started < 5
    with pytest.raises(ConnectionError):
        await reader
