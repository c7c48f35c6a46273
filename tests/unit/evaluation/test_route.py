"""Routes through several targets, and challenges set where a real video's nose rests: pure arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.motion import Route, random_route
from evaluation.video import VideoWindow


def test_route_segments_one_entry_per_frame_ending_each_step_at_rest() -> None:
    route = Route(still=2, moves=(3, 2), holds=(2, 1))
    segments = route.segments()

    assert len(segments) == route.total == 10
    assert segments[:2] == [(0, 0.0), (0, 0.0)]
    assert [step for step, _ in segments[2:]] == [1, 1, 1, 1, 1, 2, 2, 2]
    assert [segments[end] for end in route.rest_ends()] == [(1, 1.0), (2, 1.0)]


def test_route_rest_ends_last_frame_of_each_rest() -> None:
    assert Route(still=2, moves=(3, 2), holds=(2, 1)).rest_ends() == [6, 9]


def test_random_route_single_target_keeps_the_single_challenge_timing() -> None:
    route = random_route(np.random.default_rng(0), 1)

    assert len(route.moves) == 1 and route.holds == (3,)
    assert 10 <= route.moves[0] <= 30


def test_random_route_three_targets_rest_long_enough_to_be_judged() -> None:
    route = random_route(np.random.default_rng(0), 3)

    assert len(route.moves) == 3
    assert all(4 <= hold <= 6 for hold in route.holds)
    assert all(8 <= move <= 16 for move in route.moves)


def window(rests: tuple[tuple[float, float], ...]) -> VideoWindow:
    return VideoWindow(Path("v.mp4"), "p", 0, 10, 1.0, (0.0, 0.0), rests[-1], 5.0, rests)


def test_video_window_with_three_rests_makes_a_nose_sequence_there() -> None:
    challenge = window(((250.0, 240.0), (390.0, 230.0), (260.0, 250.0))).challenge(np.random.default_rng(0))

    assert challenge.type == "nose_sequence"
    assert [round(b.centre[0] / 10) for b in challenge.targets] == [25, 39, 26]  # within 3 px


def test_video_window_with_one_rest_makes_the_legacy_nose_challenge() -> None:
    challenge = window(((250.0, 240.0),)).challenge(np.random.default_rng(0))

    assert challenge.type == "nose" and challenge.nose is not None and not challenge.targets
