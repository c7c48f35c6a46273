"""The session state machine, fed sequences of observations built from REAL landmarks.

Genuine-like sessions turn a real 3D face mesh toward the target; attack-like
ones slide or tilt it as a flat photo (see ``real_faces``). Each test states
the events in the order the verifier sees them and the one decision they must
produce; thresholds come from ``VerifierSettings``, never from literals.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson
import pytest
from real_faces import (
    FACE_WIDTH_PX,
    FRAME_MS,
    KEYS,
    PEOPLE,
    SESSION_ID,
    START_MS,
    blink_challenge,
    check,
    closed_eyes,
    ended,
    face,
    nose_challenge,
    nose_path,
    observation,
    observations,
    only_decision,
    play,
    real_mesh,
    scaled,
    started,
    tilted_photo_path,
    translated,
    turn_challenge,
    turned,
)

from schemas.codec import decode_decision, encode
from schemas.events import Box, Decision, Observation, SessionStarted, SessionTick
from schemas.reasons import Reason
from schemas.tokens import TokenKeys
from verifier.session import Session, Verifier
from verifier.session_checks import TOO_LARGE
from verifier.settings import VerifierSettings

SETTINGS = VerifierSettings()
CHALLENGE = nose_challenge()  # target 60 px right of and 20 px below the image centre
START = started(CHALLENGE)
# A clear turn: well past the rotation the nose check asks for, and past the wrong-way limit.
TURN_DEG = max(20.0, 2.5 * SETTINGS.min_rotation_deg, 2.5 * SETTINGS.wrong_direction_deg)


def genuine(person: str = PEOPLE[0], frames: int = 12) -> list[Observation]:
    """A head turning ``TURN_DEG`` toward the target while shifting so the nose lands on it."""
    return observations(nose_path(real_mesh(person), CHALLENGE, TURN_DEG, frames))


def still(count: int, person: str = PEOPLE[0], first_seq: int = 0) -> list[Observation]:
    """A face (or a photo) that does not move."""
    return observations([real_mesh(person)] * count, first_seq)


def decide(*events: object) -> Decision:
    return only_decision(events)  # type: ignore[arg-type]


def last_seq(frames: list[Observation]) -> int:
    return frames[-1].seq


# ---- genuine and attack-like nose sessions -------------------------------------------------------


@pytest.mark.parametrize("person", PEOPLE)
def test_verifier_genuine_nose_turn_passes(person: str) -> None:
    frames = genuine(person)

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert (decision.outcome, decision.reason) == ("pass", Reason.PASSED)
    assert [c.name for c in decision.checks if not c.passed] == []
    assert check(decision, "rotation_toward_target_deg")[0] >= SETTINGS.min_rotation_deg
    assert check(decision, "nonplanarity")[0] >= SETTINGS.min_nonplanarity
    # It decides as soon as the challenge is met, before the last frame it was sent (10 or 11 of 12).
    assert 0 < decision.frames_used < len(frames)
    assert (decision.session_id, decision.challenge_type, decision.frames_ignored) == (SESSION_ID, "nose", 0)
    assert decision.started_at_ms == START.issued_at_ms


@pytest.mark.parametrize("person", PEOPLE)
def test_verifier_still_face_then_ended_times_out(person: str) -> None:
    frames = still(12, person)

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert (decision.outcome, decision.reason) == ("fail", Reason.TIMEOUT)
    assert check(decision, "nose_reached") == (0.0, False)
    assert decision.frames_used == len(frames)


@pytest.mark.parametrize("person", PEOPLE)
def test_verifier_photo_slid_into_target_fails_out_of_area_or_no_rotation(person: str) -> None:
    """A flat photo carries its face box along with its nose: before the nose has rested in
    the target the box has left the area, or, when it stays framed, no rotation is measured."""
    frames = observations(nose_path(real_mesh(person), CHALLENGE, 0.0))

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason in (Reason.FACE_OUT_OF_AREA, Reason.NO_ROTATION)
    if decision.reason == Reason.NO_ROTATION:
        assert not check(decision, "nonplanarity")[1]


@pytest.mark.parametrize("tilt_deg", [20.0, 30.0])
@pytest.mark.parametrize("person", PEOPLE)
def test_verifier_tilted_photo_read_as_turn_fails_planar_motion(person: str, tilt_deg: float) -> None:
    # The worst case: head pose is fooled into a full turn; only non-planarity is left to catch it.
    frames = observations(tilted_photo_path(real_mesh(person), CHALLENGE, tilt_deg))

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.PLANAR_MOTION
    assert check(decision, "rotation_toward_target_deg")[1]
    value, passed = check(decision, "nonplanarity")
    assert not passed and value is not None and value < SETTINGS.min_nonplanarity


@pytest.mark.parametrize("person", PEOPLE)
def test_verifier_head_turned_away_from_target_fails_wrong_direction(person: str) -> None:
    frames = observations(nose_path(real_mesh(person), CHALLENGE, -TURN_DEG))

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.WRONG_DIRECTION
    away, passed = check(decision, "rotation_away_deg")
    assert not passed and away is not None and away > SETTINGS.wrong_direction_deg


def test_verifier_genuine_turn_toward_left_target_passes() -> None:
    left = nose_challenge(offset_x_px=-55.0, offset_y_px=-10.0)
    frames = observations(nose_path(real_mesh(), left, -TURN_DEG))

    decision = only_decision([started(left), *frames, ended(last_seq(frames))])

    assert decision.reason == Reason.PASSED


def test_verifier_frames_of_another_size_scaled_to_challenge_size() -> None:
    # The client declared 640x480 but sends 1280x960 frames: the same motion, twice the pixels.
    big = [scaled(translated(m, 320.0, 240.0), 2.0) for m in nose_path(real_mesh(), CHALLENGE, TURN_DEG)]
    frames = [
        dataclasses.replace(o, image_width=1280, image_height=960, faces=(face(m),))
        for o, m in zip(observations(big), big, strict=True)
    ]

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.PASSED


# ---- one face in every frame ------------------------------------------------------------------


@pytest.mark.parametrize("at_seq", [1, 5, 10])
def test_verifier_second_face_in_later_frame_fails_multiple_faces(at_seq: int) -> None:
    frames = still(12)
    other = face(scaled(translated(real_mesh(PEOPLE[1]), 120.0, -40.0), 0.5))
    frames[at_seq] = dataclasses.replace(frames[at_seq], faces=(*frames[at_seq].faces, other))

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.MULTIPLE_FACES
    assert decision.frames_used == at_seq + 1  # decided on that frame, not at the first
    assert check(decision, "faces") == (2.0, False)


def test_verifier_second_face_while_turning_fails_multiple_faces() -> None:
    frames = genuine()
    other = face(scaled(translated(real_mesh(PEOPLE[1]), -120.0, -40.0), 0.5))
    frames[3] = dataclasses.replace(frames[3], faces=(other, *frames[3].faces))

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.MULTIPLE_FACES


def _without_face(frame: Observation) -> Observation:
    return dataclasses.replace(frame, faces=())


def test_verifier_single_missed_face_tolerated_and_counted() -> None:
    frames = genuine()
    frames[3] = _without_face(frames[3])

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.PASSED
    assert check(decision, "frames_without_face") == (1.0, True)


def test_verifier_consecutive_missed_faces_beyond_allowance_fail_no_face() -> None:
    misses = SETTINGS.max_consecutive_missed_faces + 1
    frames = still(3) + [_without_face(o) for o in still(misses, first_seq=3)]

    decision = decide(START, *frames)

    assert decision.reason == Reason.NO_FACE
    assert decision.frames_used == len(frames)


def test_verifier_consecutive_missed_faces_at_allowance_tolerated() -> None:
    misses = SETTINGS.max_consecutive_missed_faces
    frames = (
        still(3) + [_without_face(o) for o in still(misses, first_seq=3)] + still(2, first_seq=3 + misses)
    )

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.TIMEOUT  # still, not NO_FACE
    assert check(decision, "frames_without_face") == (float(misses), True)


def test_verifier_scattered_missed_faces_beyond_total_allowance_fail_no_face() -> None:
    count = 2 * (SETTINGS.max_missed_faces + 1)
    frames = [o if o.seq % 2 == 0 else _without_face(o) for o in still(count)]

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.NO_FACE
    assert check(decision, "frames_without_face") == (float(SETTINGS.max_missed_faces + 1), False)
    assert decision.frames_used == count


def test_verifier_no_face_ever_then_ended_fails_no_face() -> None:
    frames = [_without_face(o) for o in still(3)]

    decision = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.NO_FACE


# ---- framing ------------------------------------------------------------------------------------


def _framing_frames(mesh_change, seconds: float) -> list[Observation]:
    count = int(seconds * 1000 / FRAME_MS) + 2
    return observations([mesh_change(real_mesh())] * count)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: translated(m, 150.0, 0.0), Reason.FACE_OUT_OF_AREA),
        (lambda m: scaled(m, 0.5), Reason.FACE_TOO_SMALL),
    ],
    ids=["outside-area", "too-small"],
)
def test_verifier_face_never_framed_fails_after_area_timeout(change, reason: Reason) -> None:
    frames = _framing_frames(change, SETTINGS.area_timeout_s)

    decision = decide(START, *frames)

    assert decision.reason == reason
    assert (frames[decision.frames_used - 1].received_at_ms - START_MS) / 1000 > SETTINGS.area_timeout_s


def test_verifier_face_leaving_area_during_challenge_fails_face_out_of_area() -> None:
    area = CHALLENGE.area.widened(SETTINGS.area_tolerance)
    frames = still(2)
    # Drift left, away from the target, a few pixels per frame (no jump) until the box leaves the area.
    mesh, seq = real_mesh(), 2
    while face(mesh).box.left >= area.left:
        mesh = translated(mesh, -8.0, 0.0)
        frames.append(observation(seq, [face(mesh)]))
        seq += 1

    decision = decide(START, *frames)

    assert decision.reason == Reason.FACE_OUT_OF_AREA
    assert decision.frames_used == len(frames)


# ---- continuity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda m: translated(m, 1.5 * SETTINGS.max_nose_jump * FACE_WIDTH_PX, 0.0),
        lambda m: translated(m, 0.0, -1.5 * SETTINGS.max_nose_jump * FACE_WIDTH_PX),
        lambda m: scaled(m, 1.0 + 1.5 * SETTINGS.max_scale_jump),
        lambda m: scaled(m, 1.0 - 1.5 * SETTINGS.max_scale_jump),
    ],
    ids=["nose-right", "nose-up", "grow", "shrink"],
)
def test_verifier_jump_between_frames_fails_discontinuity(change) -> None:
    frames = still(4) + [observation(4, [face(change(real_mesh()))])]

    decision = decide(START, *frames)

    assert decision.reason == Reason.DISCONTINUITY
    assert decision.frames_used == 5


def test_verifier_move_spread_over_missing_frame_judged_per_step() -> None:
    # The move that fails as one step ("nose-up" above) passes over two (seq 4 never arrives).
    moved = translated(real_mesh(), 0.0, -1.5 * SETTINGS.max_nose_jump * FACE_WIDTH_PX)
    frames = still(4) + [observation(5, [face(moved)]), observation(6, [face(moved)])]

    decision = decide(START, *frames, ended(6))

    assert decision.reason == Reason.TIMEOUT
    assert check(decision, "missing_frames") == (1.0, True)
    jump, passed = check(decision, "max_nose_jump")
    assert passed and jump is not None and jump > SETTINGS.max_nose_jump / 2


# ---- server time ----------------------------------------------------------------------------------


def test_verifier_frames_slower_than_challenge_timeout_fail_timeout() -> None:
    late_ms = START_MS + int(SETTINGS.challenge_timeout_s * 1000) + 1
    frames = [*still(1), observation(1, [face(real_mesh())], received_at_ms=late_ms)]

    decision = decide(START, *frames)

    assert decision.reason == Reason.TIMEOUT
    assert decision.frames_used == 2


def test_verifier_frame_at_challenge_timeout_not_yet_late() -> None:
    at_ms = START_MS + int(SETTINGS.challenge_timeout_s * 1000)
    frames = [*still(1), observation(1, [face(real_mesh())], received_at_ms=at_ms)]

    session, decisions = play([START, *frames])

    assert decisions == []
    assert session is not None and not session.decided


def test_verifier_client_claiming_fast_capture_of_slow_frames_fails_clock_skew() -> None:
    # Server receipt says 12 s went by; the client's capture times say one second.
    frames = [
        observation(
            seq,
            [face(real_mesh())],
            received_at_ms=START_MS + seq * 1200,
            captured_at_ms=START_MS + seq * 100,
        )
        for seq in range(11)
    ]

    decision = decide(START, *frames)

    assert decision.reason == Reason.CLOCK_SKEW
    drift, passed = check(decision, "clock_drift_ms")
    assert not passed and drift is not None and drift > SETTINGS.max_clock_drift_ms


def test_verifier_capture_clock_drifting_from_server_fails_clock_skew() -> None:
    drift_per_frame_ms = 150
    first_failing = SETTINGS.max_clock_drift_ms // drift_per_frame_ms + 1
    frames = [
        observation(seq, [face(real_mesh())], captured_at_ms=START_MS + seq * (FRAME_MS + drift_per_frame_ms))
        for seq in range(first_failing + 3)
    ]

    decision = decide(START, *frames)

    assert decision.reason == Reason.CLOCK_SKEW
    assert decision.frames_used == first_failing + 1


def test_verifier_capture_clock_far_from_server_fails_clock_skew() -> None:
    offset_ms = SETTINGS.max_clock_offset_ms + 1
    frames = [observation(0, [face(real_mesh())], captured_at_ms=START_MS - offset_ms)]

    decision = decide(START, *frames)

    assert decision.reason == Reason.CLOCK_SKEW
    assert check(decision, "clock_offset_ms") == (float(offset_ms), False)


def test_verifier_capture_clock_drift_within_limit_passes() -> None:
    frames = genuine()
    jittered = [
        dataclasses.replace(
            o, captured_at_ms=o.captured_at_ms + (SETTINGS.max_clock_drift_ms // 2) * (o.seq % 2)
        )
        for o in frames
    ]

    decision = decide(START, *jittered, ended(last_seq(frames)))

    assert decision.reason == Reason.PASSED


# ---- order, duplicates, gaps ----------------------------------------------------------------------


def test_verifier_duplicate_frames_ignored_and_counted() -> None:
    frames = genuine()
    with_duplicates = [*frames[:3], frames[1], frames[2], *frames[3:5], frames[4], *frames[5:]]

    decision = decide(START, *with_duplicates, ended(last_seq(frames)))
    in_order = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.PASSED
    assert decision.frames_ignored == 3
    assert decision.checks == in_order.checks
    assert decision.frames_used == in_order.frames_used


def test_verifier_out_of_order_frames_within_window_reordered() -> None:
    frames = genuine()
    shuffled = [frames[0], frames[2], frames[1], frames[5], frames[3], frames[4], *frames[6:]]
    assert len(shuffled) == len(frames)

    decision = decide(START, *shuffled, ended(last_seq(frames)))
    in_order = decide(START, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.PASSED
    assert decision.checks == in_order.checks
    assert check(decision, "missing_frames") == (0.0, True)


def test_verifier_frame_reversed_across_whole_window_still_reordered() -> None:
    frames = still(SETTINGS.reorder_window + 2)
    late = frames[1]
    reordered = [
        frames[0],
        *frames[2 : 2 + SETTINGS.reorder_window],
        late,
        *frames[2 + SETTINGS.reorder_window :],
    ]

    decision = decide(START, *reordered, ended(last_seq(frames)))

    assert decision.reason == Reason.TIMEOUT
    assert check(decision, "missing_frames") == (0.0, True)
    assert decision.frames_ignored == 0


def test_verifier_gap_beyond_max_missing_frames_fails_sequence_gap() -> None:
    gap = SETTINGS.max_missing_frames + 1
    after_gap = still(SETTINGS.reorder_window + 1, first_seq=3 + gap)

    decision = decide(START, *still(3), *after_gap)

    assert decision.reason == Reason.SEQUENCE_GAP
    assert check(decision, "missing_frames") == (float(gap), False)


def test_verifier_gap_within_max_missing_frames_skipped_once_window_full() -> None:
    gap = SETTINGS.max_missing_frames
    after_gap = still(SETTINGS.reorder_window + 1, first_seq=3 + gap)

    session, decisions = play([START, *still(3), *after_gap])

    assert decisions == []
    assert session is not None and session.missing_frames == gap
    assert session.next_seq == 3 + gap + len(after_gap)


def test_verifier_gap_before_end_skipped_when_session_ended() -> None:
    frames = [*still(3), *still(3, first_seq=5)]

    decision = decide(START, *frames, ended(7))

    assert decision.reason == Reason.TIMEOUT
    assert check(decision, "missing_frames") == (2.0, True)


def test_verifier_undecodable_frames_count_as_missing() -> None:
    broken = SETTINGS.max_missing_frames + 1
    frames = still(2) + [observation(seq, [], error="CORRUPT_FRAME") for seq in range(2, 2 + broken)]

    decision = decide(START, *frames)

    assert decision.reason == Reason.SEQUENCE_GAP
    assert decision.frames_used == len(frames)


# ---- limits ---------------------------------------------------------------------------------------


def test_verifier_more_than_max_frames_fails_limit_exceeded() -> None:
    count = SETTINGS.max_frames + 1
    # Fast enough to stay inside every time limit: only the count can end it.
    spacing_ms = int(SETTINGS.challenge_timeout_s * 1000) // (count + 1)
    mesh = real_mesh()
    frames = [
        observation(seq, [face(mesh)], received_at_ms=START_MS + seq * spacing_ms) for seq in range(count)
    ]

    decision = decide(START, *frames)

    assert decision.reason == Reason.LIMIT_EXCEEDED
    assert check(decision, "frames") == (float(count), False)


def test_verifier_max_frames_exactly_not_exceeded() -> None:
    count = SETTINGS.max_frames
    spacing_ms = int(SETTINGS.challenge_timeout_s * 1000) // (count + 1)
    mesh = real_mesh()
    frames = [
        observation(seq, [face(mesh)], received_at_ms=START_MS + seq * spacing_ms) for seq in range(count)
    ]

    _, decisions = play([START, *frames])

    assert decisions == []


def test_verifier_frame_too_large_fails_limit_exceeded() -> None:
    frames = [*still(3), observation(3, [], error=TOO_LARGE)]

    decision = decide(START, *frames)

    assert decision.reason == Reason.LIMIT_EXCEEDED
    assert check(decision, "frame_size")[1] is False


# ---- start, expiry, token -------------------------------------------------------------------------


def test_verifier_session_started_after_expiry_fails_expired() -> None:
    decision = decide((START, START.expires_at_ms + 1))

    assert decision.reason == Reason.EXPIRED


def test_verifier_session_started_after_expiry_without_keys_fails_expired() -> None:
    decision = only_decision([(START, START.expires_at_ms + 1)], Verifier())

    assert decision.reason == Reason.EXPIRED


def test_verifier_session_started_at_expiry_accepted() -> None:
    session, decisions = play([(START, START.expires_at_ms)])

    assert decisions == []
    assert session is not None and session.challenge == CHALLENGE


def test_verifier_first_frame_after_expiry_fails_expired() -> None:
    late = observation(0, [face(real_mesh())], received_at_ms=START.expires_at_ms + 1)

    decision = decide(START, late)

    assert decision.reason == Reason.EXPIRED


def test_verifier_no_frames_until_expiry_then_tick_fails_expired() -> None:
    tick = SessionTick(SESSION_ID, START.expires_at_ms + 1)

    decision = decide(START, (tick, tick.at_ms))

    assert decision.reason == Reason.EXPIRED


BAD_STARTS = {
    "forged-token": dataclasses.replace(START, token="e30.AAAA"),
    "other-secret": started(CHALLENGE, keys=TokenKeys(b"not-the-verifier-secret-32-bytes")),
    "challenge-swapped": dataclasses.replace(START, challenge=nose_challenge(offset_x_px=46.0)),
    "other-session": dataclasses.replace(started(CHALLENGE, session_id="another"), session_id=SESSION_ID),
    "expiry-extended": dataclasses.replace(START, expires_at_ms=START.expires_at_ms + 3_600_000),
}


@pytest.mark.parametrize("start", BAD_STARTS.values(), ids=BAD_STARTS.keys())
def test_verifier_bad_token_fails_bad_token(start: SessionStarted) -> None:
    frames = genuine()

    decision = decide(start, *frames, ended(last_seq(frames)))

    assert decision.reason == Reason.BAD_TOKEN
    assert check(decision, "token")[1] is False


def test_verifier_expiry_extended_in_event_rejected_after_token_expiry() -> None:
    extended = dataclasses.replace(START, expires_at_ms=START.expires_at_ms + 3_600_000)

    decision = decide((extended, START.expires_at_ms + 1))

    assert decision.reason == Reason.BAD_TOKEN


# ---- exactly one decision per session -------------------------------------------------------------


def _decided_by_genuine() -> list[object]:
    frames = genuine()
    return [START, *frames, ended(last_seq(frames))]


def test_verifier_events_after_decision_never_decide_again() -> None:
    frames = genuine()
    after = [
        START,  # re-sent start
        started(nose_challenge(offset_x_px=-50.0)),  # a new start for the same id
        ended(last_seq(frames)),  # a second end
        ended(99),
        (SessionTick(SESSION_ID, START_MS + 3_600_000), START_MS + 3_600_000),
        *still(3, first_seq=last_seq(frames) + 1),  # frames after the decision
        frames[0],
    ]

    session, decisions = play([*_decided_by_genuine(), *after])

    assert [d.reason for d in decisions] == [Reason.PASSED]
    assert session is not None and session.decided and session.reason == Reason.PASSED
    assert session.frames_ignored == 4 + len(frames) - decisions[0].frames_used


def test_verifier_resent_start_before_decision_changes_nothing() -> None:
    frames = genuine()
    other = started(nose_challenge(offset_x_px=-50.0))

    decision = decide(START, *frames[:3], START, other, *frames[3:], ended(last_seq(frames)))

    assert decision.reason == Reason.PASSED


def test_verifier_failed_session_cannot_be_retried_under_same_id() -> None:
    still_frames = still(12)
    frames = genuine()
    retry = [started(CHALLENGE), *[dataclasses.replace(o, seq=o.seq + 100) for o in frames]]

    _, decisions = play([START, *still_frames, ended(last_seq(still_frames)), *retry, ended(111)])

    assert [d.reason for d in decisions] == [Reason.TIMEOUT]


def test_verifier_tick_after_silence_decides_once() -> None:
    frames = still(4)
    silent_ms = frames[-1].received_at_ms + int(SETTINGS.idle_timeout_s * 1000) + 100
    ticks = [(SessionTick(SESSION_ID, silent_ms + i), silent_ms + i) for i in range(3)]

    _, decisions = play([START, *frames, *ticks])

    assert [d.reason for d in decisions] == [Reason.TIMEOUT]


def test_verifier_tick_before_idle_timeout_does_not_decide() -> None:
    frames = still(4)
    quiet_ms = frames[-1].received_at_ms + int(SETTINGS.idle_timeout_s * 1000) - 100

    session, decisions = play([START, *frames, (SessionTick(SESSION_ID, quiet_ms), quiet_ms)])

    assert decisions == []
    assert session is not None and not Verifier(SETTINGS).needs_tick(session, quiet_ms)


# ---- events out of order across topics ------------------------------------------------------------


def test_verifier_end_before_last_frames_waits_for_them() -> None:
    frames = still(8)

    session, decisions = play([START, *frames[:3], ended(last_seq(frames)), *frames[3:-1]])
    assert decisions == []
    assert session is not None and not session.decided

    decision = decide(START, *frames[:3], ended(last_seq(frames)), *frames[3:])
    assert decision.reason == Reason.TIMEOUT
    assert decision.frames_used == len(frames)


def test_verifier_end_before_genuine_frames_still_passes() -> None:
    frames = genuine()

    decision = decide(START, ended(last_seq(frames)), *frames)

    assert decision.reason == Reason.PASSED


def test_verifier_frames_before_start_held_and_applied() -> None:
    frames = genuine()

    session, decisions = play([*frames, (START, frames[-1].received_at_ms + 10)])

    assert [d.reason for d in decisions] == [Reason.PASSED]
    assert session is not None and session.decided


def test_verifier_duplicates_before_start_counted_in_decision() -> None:
    frames = genuine()
    early = [frames[0], frames[1], frames[1], frames[0]]

    decision = decide(*early, (START, frames[1].received_at_ms + 10), *frames[2:])

    assert decision.reason == Reason.PASSED
    assert decision.frames_ignored == 2


def test_verifier_frames_and_end_before_start_decide_at_start() -> None:
    frames = still(5)

    held, none_yet = play([*frames, ended(last_seq(frames))])
    decision = decide(*frames, ended(last_seq(frames)), (START, frames[-1].received_at_ms + 10))

    assert none_yet == [] and held is not None and len(held.pending) == len(frames)
    assert decision.reason == Reason.TIMEOUT
    assert decision.frames_used == len(frames)


def test_verifier_frames_without_start_orphaned_after_idle_timeout() -> None:
    frames = still(3)
    verifier = Verifier(SETTINGS, KEYS)
    session, _ = play(frames, verifier)
    assert session is not None
    created_ms = session.created_at_ms
    idle_ms = int(SETTINGS.idle_timeout_s * 1000)

    early = verifier.handle(session, SessionTick(SESSION_ID, created_ms + idle_ms), created_ms + idle_ms)
    late = verifier.handle(
        session, SessionTick(SESSION_ID, created_ms + idle_ms + 1), created_ms + idle_ms + 1
    )

    assert (early.orphaned, early.decision) == (False, None)
    assert (late.orphaned, late.decision) == (True, None)
    assert verifier.needs_tick(session, created_ms + idle_ms + 1)
    assert not verifier.needs_tick(session, created_ms + idle_ms)


def test_frames_without_start_wait_the_idle_timeout_from_when_a_worker_owns_them() -> None:
    """A restart longer than the idle timeout does not drop frames whose start is still unread."""
    verifier = Verifier(SETTINGS, KEYS)
    session, _ = play(still(3), verifier)
    assert session is not None
    idle_ms = int(SETTINGS.idle_timeout_s * 1000)
    owned_ms = session.created_at_ms + 3 * idle_ms  # the worker that read the frames crashed

    heard = Verifier.heard_since(session, owned_ms)

    assert heard is not None and not verifier.needs_tick(heard, owned_ms + idle_ms)
    assert not verifier.handle(
        heard, SessionTick(SESSION_ID, owned_ms + idle_ms), owned_ms + idle_ms
    ).orphaned
    late = owned_ms + idle_ms + 1
    assert verifier.handle(heard, SessionTick(SESSION_ID, late), late).orphaned


def test_verifier_tick_for_unknown_session_ignored() -> None:
    outcome = Verifier(SETTINGS, KEYS).handle(None, SessionTick("nobody", START_MS), START_MS)

    assert outcome.ignored and outcome.decision is None and not outcome.orphaned


# ---- the table: the session survives serialisation between every two events -----------------------


def _scenarios() -> dict[str, tuple[list[object], Reason | None]]:
    """Event sequences, each with the reason it must end in (None: still open)."""
    frames = genuine()
    last = last_seq(frames)
    mesh = real_mesh(PEOPLE[2])
    yaws = [*np.linspace(0.0, 22.0, 6), *np.linspace(22.0, -22.0, 11)[1:]]
    turn_path = [turned(mesh, yaw) for yaw in yaws]
    blink_path = [closed_eyes(mesh, closure) for closure in (0, 0, 1, 0, 0.3, 1, 1, 0, 0)]
    shuffled = [frames[1], frames[0], frames[0], frames[3], frames[2], *frames[4:]]
    turn = started(turn_challenge("left", "right"))
    return {
        "genuine": ([START, *frames, ended(last)], Reason.PASSED),
        "photo-slid": (
            [START, *observations(nose_path(mesh, CHALLENGE, 0.0)), ended(last)],
            Reason.FACE_OUT_OF_AREA,
        ),
        "photo-tilted": (
            [START, *observations(tilted_photo_path(mesh, CHALLENGE, 25.0)), ended(last)],
            Reason.PLANAR_MOTION,
        ),
        "turned-away": (
            [START, *observations(nose_path(mesh, CHALLENGE, -TURN_DEG)), ended(last)],
            Reason.WRONG_DIRECTION,
        ),
        "still": ([START, *still(6), ended(5)], Reason.TIMEOUT),
        "shuffled-with-duplicates": ([START, *shuffled, ended(last)], Reason.PASSED),
        "end-first": ([START, ended(last), *frames], Reason.PASSED),
        "frames-before-start": (
            [*frames[:5], (START, frames[4].received_at_ms + 1), *frames[5:]],
            Reason.PASSED,
        ),
        "gap-still-open": ([START, *still(3), *still(SETTINGS.reorder_window + 1, first_seq=4)], None),
        "missed-face": ([START, frames[0], _without_face(frames[1]), *frames[2:]], Reason.PASSED),
        "turn": ([turn, *observations(turn_path), ended(len(turn_path) - 1)], Reason.PASSED),
        "blink": (
            [started(blink_challenge(2)), *observations(blink_path), ended(len(blink_path) - 1)],
            Reason.PASSED,
        ),
    }


@pytest.mark.parametrize("name", list(_scenarios()))
def test_verifier_session_stored_between_events_gives_same_decisions(name: str) -> None:
    events, reason = _scenarios()[name]

    direct_session, direct = play(events)  # type: ignore[arg-type]
    stored_session, through_table = play(events, through_table=True)  # type: ignore[arg-type]

    assert [d.reason for d in through_table] == ([] if reason is None else [reason])
    assert [d.to_dict() for d in through_table] == [d.to_dict() for d in direct]
    assert direct_session is not None and stored_session is not None
    assert stored_session.to_dict() == direct_session.to_dict()


def test_session_row_round_trip_exact_and_tagged_with_decided() -> None:
    open_session, _ = play([START, *genuine()[:6]])  # type: ignore[arg-type]
    decided_session, _ = play([START, *genuine(), ended(11)])  # type: ignore[arg-type]
    assert open_session is not None and decided_session is not None and decided_session.decided

    for session in (open_session, decided_session):
        row = session.to_row()
        assert Session.from_row(row).to_dict() == session.to_dict()
        assert Session.row_decided(row) is session.decided
        assert len(row) < len(orjson.dumps(session.to_dict()))


def test_session_plain_json_row_of_older_worker_still_loads() -> None:
    session, _ = play([START, *genuine()[:6]])  # type: ignore[arg-type]
    assert session is not None
    row = orjson.dumps(session.to_dict())  # how rows were written before they were compressed

    assert Session.from_row(row).to_dict() == session.to_dict()
    assert Session.row_decided(row) is False


def test_verifier_decision_encodes_and_decodes() -> None:
    decision = decide(*_decided_by_genuine())

    assert decode_decision(encode(decision)) == decision


def test_verifier_decision_reports_checks_with_thresholds_from_settings() -> None:
    strict = VerifierSettings(min_nonplanarity=0.5)
    frames = genuine()

    decision = only_decision([START, *frames, ended(last_seq(frames))], Verifier(strict, KEYS))

    assert decision.reason == Reason.PLANAR_MOTION
    value, passed = check(decision, "nonplanarity")
    assert not passed and value is not None and value < strict.min_nonplanarity
    assert [c.threshold for c in decision.checks if c.name == "nonplanarity"] == [0.5]


def test_verifier_box_geometry_of_test_face_fits_sample_area() -> None:
    # The premise of every framing above: the still face is framed at once.
    box: Box = face(real_mesh()).box

    assert CHALLENGE.area.contains_box(box)
    assert box.area >= SETTINGS.min_face_fill * CHALLENGE.area.area
