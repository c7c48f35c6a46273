"""Stream deadlines count the client's own messages only, and not the time we did not read."""

from __future__ import annotations

from producers.gateway.deadline import StreamDeadline


def test_stream_deadline_idle_counts_from_the_last_message() -> None:
    deadline = StreamDeadline(idle_s=15, end_wait_s=30, opened_ms=0)
    assert deadline.at_ms == 15_000
    deadline.heard(10_000)
    assert (deadline.at_ms, deadline.remaining_s(20_000)) == (25_000, 5.0)


def test_stream_deadline_after_end_waits_end_wait_from_the_end() -> None:
    deadline = StreamDeadline(idle_s=15, end_wait_s=30, opened_ms=0)
    deadline.end(4_000)
    assert deadline.ended and deadline.at_ms == 34_000
    assert deadline.remaining_s(40_000) == 0.0


def test_stream_deadline_our_pause_does_not_count_against_the_client() -> None:
    deadline = StreamDeadline(idle_s=15, end_wait_s=30, opened_ms=0)
    deadline.heard(1_000)
    deadline.paused(2_500)
    assert deadline.at_ms == 18_500


def test_stream_deadline_clock_going_back_does_not_move_it_earlier() -> None:
    deadline = StreamDeadline(idle_s=1, end_wait_s=1, opened_ms=5_000)
    deadline.heard(4_000)
    assert deadline.at_ms == 6_000
