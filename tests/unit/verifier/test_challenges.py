"""The turn and blink plug-ins (and the registry), judged through the verifier on real landmarks."""

from __future__ import annotations

import numpy as np
import pytest
from real_faces import (
    PEOPLE,
    Mesh,
    blink_challenge,
    check,
    closed_eyes,
    ended,
    observations,
    only_decision,
    play,
    real_mesh,
    started,
    tilted_read_as_turned,
    turn_challenge,
    turned,
)

from schemas.events import Decision
from schemas.reasons import Reason
from verifier.challenges import REGISTRY, challenge_type
from verifier.settings import VerifierSettings

SETTINGS = VerifierSettings()
TURN_DEG = max(22.0, SETTINGS.min_turn_deg + 7.0)  # past the limit with margin, as people turn when asked


def _sweep(mesh: Mesh, yaws: list[float], per_degree: float = 0.25) -> list[Mesh]:
    """A head turning smoothly through the given yaw angles (about one frame per 4 degrees)."""
    path = [0.0]
    for target in yaws:
        steps = max(2, int(abs(target - path[-1]) * per_degree))
        path.extend(np.linspace(path[-1], target, steps + 1)[1:])
    return [turned(mesh, yaw) for yaw in path]


def _session(challenge, meshes: list[Mesh]) -> Decision:
    frames = observations(meshes)
    return only_decision([started(challenge), *frames, ended(frames[-1].seq)])


# ---- turn ---------------------------------------------------------------------------------------

# "left" is the person's left: the nose toward +x of the unmirrored image, positive yaw.
SIDES = {"left": 1.0, "right": -1.0}


@pytest.mark.parametrize("sequence", [("left", "right"), ("right", "left")], ids="-".join)
@pytest.mark.parametrize("person", PEOPLE)
def test_turn_both_sides_in_order_passes(person: str, sequence: tuple[str, str]) -> None:
    first, second = (SIDES[side] * TURN_DEG for side in sequence)
    meshes = _sweep(real_mesh(person), [first, 0.0, second])

    decision = _session(turn_challenge(*sequence), meshes)

    assert (decision.outcome, decision.reason) == ("pass", Reason.PASSED)
    assert check(decision, "turns_completed") == (2.0, True)
    assert [c.name for c in decision.checks if not c.passed] == []


@pytest.mark.parametrize("person", PEOPLE)
def test_turn_first_side_wrong_way_fails_wrong_direction(person: str) -> None:
    meshes = _sweep(real_mesh(person), [SIDES["right"] * TURN_DEG])

    decision = _session(turn_challenge("left", "right"), meshes)

    assert decision.reason == Reason.WRONG_DIRECTION
    away, passed = check(decision, "rotation_away_deg")
    assert not passed and away is not None and away > SETTINGS.wrong_direction_deg


def test_turn_one_side_only_then_ended_fails_timeout() -> None:
    meshes = _sweep(real_mesh(), [SIDES["left"] * TURN_DEG, 0.0])

    decision = _session(turn_challenge("left", "right"), meshes)

    assert decision.reason == Reason.TIMEOUT
    assert check(decision, "turns_completed") == (1.0, False)


def test_turn_same_side_twice_fails_timeout() -> None:
    meshes = _sweep(real_mesh(), [SIDES["left"] * TURN_DEG, 0.0, SIDES["left"] * TURN_DEG])

    decision = _session(turn_challenge("left", "right"), meshes)

    assert decision.reason == Reason.TIMEOUT


def test_turn_too_small_fails_timeout() -> None:
    small = SETTINGS.min_turn_deg - 3.0
    meshes = _sweep(real_mesh(), [small, 0.0, small])

    decision = _session(turn_challenge("left", "right"), meshes)

    assert decision.reason == Reason.TIMEOUT
    assert check(decision, "turns_completed") == (0.0, False)
    best, passed = check(decision, "rotation_toward_target_deg")
    assert not passed and best == pytest.approx(small, abs=1.0)


@pytest.mark.parametrize("person", PEOPLE)
def test_turn_tilted_photo_read_as_turn_fails_planar_motion(person: str) -> None:
    mesh = real_mesh(person)
    meshes = [tilted_read_as_turned(mesh, angle) for angle in np.linspace(0.0, 30.0, 9)]

    decision = _session(turn_challenge("left", "right"), meshes)

    assert decision.reason == Reason.PLANAR_MOTION
    assert not check(decision, "nonplanarity")[1]


def test_turn_still_face_fails_timeout() -> None:
    decision = _session(turn_challenge("right", "left"), [real_mesh()] * 10)

    assert decision.reason == Reason.TIMEOUT


# ---- blink --------------------------------------------------------------------------------------

SHUT = 1.0
# Eyes narrowed to halfway between the closed and the reopened ratio: neither closed nor open.
SQUINT = 1.0 - (SETTINGS.blink_closed_ratio + SETTINGS.blink_open_ratio) / 2


def _eyes(mesh: Mesh, closures: list[float]) -> list[Mesh]:
    return [closed_eyes(mesh, closure) for closure in closures]


@pytest.mark.parametrize("person", PEOPLE)
def test_blink_once_passes(person: str) -> None:
    meshes = _eyes(real_mesh(person), [0, 0, 0.5, SHUT, SHUT, 0.5, 0, 0])

    decision = _session(blink_challenge(1), meshes)

    assert (decision.outcome, decision.reason) == ("pass", Reason.PASSED)
    assert check(decision, "blinks") == (1.0, True)
    assert [c.name for c in decision.checks if not c.passed] == []


def test_blink_twice_when_asked_twice_passes() -> None:
    meshes = _eyes(real_mesh(), [0, 0, SHUT, 0, 0, SHUT, SHUT, 0, 0])

    decision = _session(blink_challenge(2), meshes)

    assert decision.reason == Reason.PASSED
    assert check(decision, "blinks") == (2.0, True)


def test_blink_once_when_asked_twice_fails_no_blink() -> None:
    meshes = _eyes(real_mesh(), [0, 0, SHUT, 0, 0, 0, 0])

    decision = _session(blink_challenge(2), meshes)

    assert decision.reason == Reason.NO_BLINK
    assert check(decision, "blinks") == (1.0, False)


@pytest.mark.parametrize(
    "closures",
    [
        [0, 0, SQUINT, SQUINT, 0, 0],  # narrowed, never closed
        [0, 0, SHUT, SHUT, SHUT, SHUT],  # closed, never reopened
        [0, 0, SHUT, SQUINT, SQUINT, SQUINT],  # half reopened
        [0] * 8,  # a photo does not blink
    ],
    ids=["squint", "never-reopened", "half-reopened", "photo"],
)
def test_blink_incomplete_fails_no_blink(closures: list[float]) -> None:
    decision = _session(blink_challenge(1), _eyes(real_mesh(), closures))

    assert decision.reason == Reason.NO_BLINK
    assert check(decision, "blinks") == (0.0, False)


def test_blink_lowest_ratio_reported_against_closed_threshold() -> None:
    squinting = _session(blink_challenge(1), _eyes(real_mesh(), [0, 0, SQUINT, 0]))
    blinking = _session(blink_challenge(1), _eyes(real_mesh(), [0, 0, SHUT, 0]))

    squint_low, squint_passed = check(squinting, "lowest_eye_ratio")
    blink_low, blink_passed = check(blinking, "lowest_eye_ratio")
    assert not squint_passed and squint_low is not None and squint_low > SETTINGS.blink_closed_ratio
    assert blink_passed and blink_low is not None and blink_low < 0.1


def test_blink_decided_as_soon_as_eyes_reopen() -> None:
    frames = observations(_eyes(real_mesh(), [0, 0, SHUT, 0, 0, 0, 0, 0]))

    _, decisions = play([started(blink_challenge(1)), *frames])

    assert [(d.reason, d.frames_used) for d in decisions] == [(Reason.PASSED, 4)]


# ---- registry -----------------------------------------------------------------------------------


def test_registry_holds_the_four_plug_ins_by_name() -> None:
    assert sorted(REGISTRY) == ["blink", "nose", "nose_sequence", "turn"]
    assert all(challenge_type(name).name == name for name in REGISTRY)


def test_challenge_type_unknown_name_raises_key_error_naming_known_ones() -> None:
    with pytest.raises(KeyError, match="blink"):
        challenge_type("smile")
