"""The nose-sequence challenge and the identity check, judged through the verifier on real landmarks."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest
from real_faces import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    KEYS,
    PEOPLE,
    SESSION_ID,
    Mesh,
    check,
    ended,
    handled_at,
    observations,
    only_decision,
    play,
    real_mesh,
    same_person,
    started,
    translated,
    turned,
)

from schemas.events import Box, Challenge, Decision, IdentityRequest, IdentitySample, SessionTick
from schemas.reasons import Reason
from schemas.tokens import TokenError, verify_token
from verifier.challenges import area_box, challenge_type
from verifier.challenges.sequence import NOSE_BOX_PX, OFFSET_X_PX, OFFSET_Y_PX, TARGETS
from verifier.session import Verifier
from verifier.settings import VerifierSettings

SETTINGS = VerifierSettings()
TURN_DEG = 20.0  # how far people turn to reach a target 45-100 px out


def sequence_challenge(*offsets: tuple[float, float]) -> Challenge:
    """A nose-sequence challenge with targets at these (x, y) offsets from the image centre."""
    half = NOSE_BOX_PX / 2
    targets = tuple(
        Box(FRAME_WIDTH / 2 + dx - half, FRAME_HEIGHT / 2 + dy - half, NOSE_BOX_PX, NOSE_BOX_PX)
        for dx, dy in offsets
    )
    area = area_box(FRAME_WIDTH, FRAME_HEIGHT)
    return Challenge("nose_sequence", FRAME_WIDTH, FRAME_HEIGHT, area, targets=targets)


CHALLENGE = sequence_challenge((70.0, -20.0), (-60.0, 30.0), (80.0, 10.0))


def visit(points: Mesh, targets: list[Box], yaw_deg: float, move: int = 12, rest: int = 4) -> list[Mesh]:
    """A head that turns toward each target in turn (yaw sign = side) and rests its nose there."""
    path = [points] * 3
    yaw, shift = 0.0, np.zeros(2)
    for target in targets:
        side = 1.0 if target.centre[0] >= FRAME_WIDTH / 2 else -1.0
        end_yaw = side * yaw_deg
        end = turned(points, end_yaw)
        end_shift = np.array(target.centre) - end[1, :2]
        for t in np.linspace(0.0, 1.0, move)[1:]:
            eased = (1 - math.cos(math.pi * t)) / 2
            y, s = yaw + (end_yaw - yaw) * eased, shift + (end_shift - shift) * eased
            path.append(translated(turned(points, y), *s))
        path += [path[-1]] * rest
        yaw, shift = end_yaw, end_shift
    return path


def session(meshes: list[Mesh], challenge: Challenge = CHALLENGE, person: str = PEOPLE[0]) -> Decision:
    frames = observations(meshes)
    return only_decision([started(challenge), *frames, ended(frames[-1].seq)], embeddings=same_person(person))


@pytest.mark.parametrize("person", PEOPLE)
def test_sequence_every_target_in_order_passes(person: str) -> None:
    decision = session(visit(real_mesh(person), list(CHALLENGE.targets), TURN_DEG), person=person)

    assert (decision.outcome, decision.reason) == ("pass", Reason.PASSED)
    assert check(decision, "targets_reached") == (3.0, True)
    turn, passed = check(decision, "rotation_toward_target_deg")
    assert passed and turn is not None and turn >= SETTINGS.min_rotation_deg
    assert [c.name for c in decision.checks if not c.passed] == []


def test_sequence_decided_at_the_last_rest_not_at_the_end() -> None:
    meshes = visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG)
    _, decisions = play([started(CHALLENGE), *observations(meshes)])  # no end: decided while streaming

    assert [d.reason for d in decisions] == [Reason.PASSED]
    assert decisions[0].frames_used < len(meshes)


def test_sequence_two_of_three_targets_then_ended_fails_timeout() -> None:
    decision = session(visit(real_mesh(), list(CHALLENGE.targets[:2]), TURN_DEG))

    assert decision.reason == Reason.TIMEOUT
    assert check(decision, "targets_reached") == (2.0, False)


def test_sequence_targets_out_of_order_fail() -> None:
    order = [CHALLENGE.targets[1], CHALLENGE.targets[0], CHALLENGE.targets[2]]

    decision = session(visit(real_mesh(), order, TURN_DEG))

    assert decision.outcome == "fail"
    assert decision.reason in (Reason.WRONG_DIRECTION, Reason.TIMEOUT)


def test_sequence_photo_slid_through_targets_fails_no_rotation() -> None:
    decision = session(visit(real_mesh(), list(CHALLENGE.targets), 0.0))

    assert decision.reason == Reason.NO_ROTATION
    turn, passed = check(decision, "rotation_toward_target_deg")
    assert not passed and turn is not None and turn < SETTINGS.min_rotation_deg


def test_sequence_too_slow_fails_timeout() -> None:
    slow = visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG, rest=30)  # ~3.5 s a step at 12 fps
    settings = dataclasses.replace(SETTINGS, sequence_step_timeout_s=2.0)
    frames = observations(slow)
    _, decisions = play([started(CHALLENGE), *frames, ended(frames[-1].seq)], Verifier(settings, KEYS))

    assert [d.reason for d in decisions] == [Reason.TIMEOUT]


def test_sequence_state_through_the_table_gives_the_same_decision() -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))
    events = [started(CHALLENGE), *frames, ended(frames[-1].seq)]

    _, direct = play(events)
    _, stored = play(events, through_table=True)

    assert [d.to_dict() | {"decided_at_ms": 0} for d in stored] == [
        d.to_dict() | {"decided_at_ms": 0} for d in direct
    ]


# ---- identity ---------------------------------------------------------------------------------------


def _requests(events: list) -> list[IdentityRequest]:
    """Every identity request a session gives rise to, in order."""
    verifier, session, requests = Verifier(SETTINGS, KEYS), None, []
    for event in events:
        outcome = verifier.handle(session, event, handled_at(event))
        session = outcome.session
        requests.extend(outcome.identity_requests)
    return requests


def test_identity_requested_for_the_first_framed_frame_and_each_rest() -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))

    requests = _requests([started(CHALLENGE), *frames])

    seqs = list(dict.fromkeys(r.seq for r in requests))  # the frames asked for, in order
    assert len(seqs) == 1 + len(CHALLENGE.targets) and seqs == sorted(seqs)
    # Nothing answers here: at the pass, every frame is asked for again, for the decision waits.
    assert sorted(r.seq for r in requests if r.awaited) == seqs
    assert seqs[0] == 0  # the face is framed from the first frame of these sessions
    assert len(frames) - seqs[-1] <= 6  # the last rest: within the 4 resting frames at the end of the path


def test_identity_pass_waits_for_the_last_sample() -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))
    verifier, session = Verifier(SETTINGS, KEYS), None
    for event in [started(CHALLENGE), *frames]:
        outcome = verifier.handle(session, event, handled_at(event))
        session = outcome.session
        assert outcome.decision is None  # nothing answers the requests here
    assert session is not None and session.phase == "identity"

    late = verifier.handle(session, SessionTick(SESSION_ID, frames[-1].received_at_ms + 11_000), 0)
    overdue = verifier.handle(session, SessionTick(SESSION_ID, 0), frames[-1].received_at_ms + 11_000)

    assert late.decision is None
    assert overdue.decision is not None and overdue.decision.reason == Reason.IDENTITY_CHANGED
    assert check(overdue.decision, "identity_samples") == (0.0, False)


@pytest.mark.parametrize("cut_at", [10, 25, 40])
def test_identity_other_person_after_framing_fails_identity_changed(cut_at: int) -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))
    victim, accomplice = same_person(PEOPLE[0]), same_person(PEOPLE[1])

    decision = only_decision(
        [started(CHALLENGE), *frames, ended(frames[-1].seq)],
        embeddings=lambda seq: victim(seq) if seq < cut_at else accomplice(seq),
    )

    assert decision.reason == Reason.IDENTITY_CHANGED
    distance, passed = check(decision, "identity_distance")
    assert not passed and distance is not None and distance > SETTINGS.max_identity_distance


def test_identity_frames_that_cannot_be_embedded_never_pass() -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))

    decision = only_decision([started(CHALLENGE), *frames, ended(frames[-1].seq)], embeddings=lambda seq: ())

    assert decision.reason == Reason.IDENTITY_CHANGED
    assert check(decision, "identity_samples") == (0.0, False)


def test_identity_samples_of_one_person_pass_with_the_distance_reported() -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))

    decision = only_decision([started(CHALLENGE), *frames, ended(frames[-1].seq)])

    assert decision.reason == Reason.PASSED
    distance, passed = check(decision, "identity_distance")
    assert passed and distance is not None and 0 < distance <= SETTINGS.max_identity_distance
    assert check(decision, "identity_samples") == (4.0, True)


def test_identity_unasked_or_repeated_samples_change_nothing() -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))
    forged = IdentitySample(SESSION_ID, 7, same_person(PEOPLE[1])(7))
    forged_at = frames[19].received_at_ms + 10
    events = [started(CHALLENGE), *frames[:20], (forged, forged_at), *frames[20:], ended(frames[-1].seq)]

    decision = only_decision(events)

    assert decision.reason == Reason.PASSED


# ---- drawing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_draw_targets_alternate_sides_within_the_range(seed: int) -> None:
    challenge = challenge_type("nose_sequence").draw(random.Random(seed), FRAME_WIDTH, FRAME_HEIGHT)

    assert challenge.type == "nose_sequence" and len(challenge.targets) == TARGETS
    offsets = [(t.centre[0] - FRAME_WIDTH / 2, t.centre[1] - FRAME_HEIGHT / 2) for t in challenge.targets]
    sides = [math.copysign(1.0, dx) for dx, _ in offsets]
    assert all(a == -b for a, b in zip(sides, sides[1:], strict=False))
    assert all(OFFSET_X_PX[0] <= abs(dx) <= OFFSET_X_PX[1] for dx, _ in offsets)
    assert all(OFFSET_Y_PX[0] <= abs(dy) <= OFFSET_Y_PX[1] for _, dy in offsets)


def test_draw_scales_with_the_declared_image_size() -> None:
    small = challenge_type("nose_sequence").draw(random.Random(3), 320, 240)
    large = challenge_type("nose_sequence").draw(random.Random(3), 640, 480)

    for a, b in zip(small.targets, large.targets, strict=True):
        assert (a.left * 2, a.top * 2, a.width * 2) == pytest.approx((b.left, b.top, b.width))


def test_token_binds_every_target() -> None:
    start = started(CHALLENGE)
    moved = dataclasses.replace(
        CHALLENGE, targets=(CHALLENGE.targets[0], CHALLENGE.targets[2], CHALLENGE.targets[1])
    )

    with pytest.raises(TokenError):
        verify_token(KEYS, start.token, start.session_id, moved, start.issued_at_ms)


def test_identity_ends_only_asks_for_the_first_framed_frame_and_the_final_rest() -> None:
    frames = observations(visit(real_mesh(), list(CHALLENGE.targets), TURN_DEG))
    verifier = Verifier(dataclasses.replace(SETTINGS, identity_every_step=False), KEYS)

    session, decisions = play([started(CHALLENGE), *frames], verifier)

    assert [d.reason for d in decisions] == [Reason.PASSED]
    assert session is not None and len(session.identity.requested) == 2
