"""Live feedback: what a frame showed and the hint that leads the person toward a pass."""

from __future__ import annotations

import pytest

from producers.gateway import feedback
from producers.gateway.feedback import FeedbackTracker, decision_message, poll_response
from schemas.events import LANDMARK_SUBSET, Box, Challenge, Check, Decision, Face, Observation
from verifier.settings import VerifierSettings

AREA = Box(185, 60, 270, 360)  # area box of a 640x480 challenge
CHALLENGE = Challenge("nose", 640, 480, AREA, nose=Box(380, 250, 20, 20))
FRAMED = Box(230, 110, 180, 240)  # inside the area, fill 0.44
NO_LANDMARKS = tuple([0.0] * 3 * len(LANDMARK_SUBSET))


def _face(box: Box = FRAMED, nose: tuple[float, float] = (320.0, 240.0)) -> Face:
    return Face(box, nose, 0.0, 0.0, 0.0, NO_LANDMARKS)


def _obs(*faces: Face, size: tuple[int, int] = (640, 480), error: str | None = None) -> Observation:
    return Observation("s1", 4, 0, 0, size[0], size[1], faces, error=error)


@pytest.mark.parametrize(
    ("observation", "hint"),
    [
        (_obs(), feedback.NO_FACE),
        (_obs(_face(), _face()), feedback.ONE_FACE),
        (_obs(error="CORRUPT_FRAME"), feedback.UNREADABLE),
        (_obs(_face(Box(20, 100, 150, 200))), feedback.CENTRE_FACE),
        (_obs(_face(Box(0, 0, 640, 480))), feedback.MOVE_BACK),
        (_obs(_face(Box(280, 200, 80, 100))), feedback.MOVE_CLOSER),
        (_obs(_face()), feedback.NOSE_TO_TARGET),
        (_obs(_face(nose=(390.0, 260.0))), feedback.HOLD_STILL),
    ],
)
def test_feedback_observation_gives_the_hint_for_what_the_frame_showed(
    observation: Observation, hint: str
) -> None:
    assert FeedbackTracker(CHALLENGE).observation(observation)["hint"] == hint


def test_feedback_observation_reports_face_nose_fill_and_target() -> None:
    message = FeedbackTracker(CHALLENGE).observation(_obs(_face(nose=(390.0, 260.0))))
    assert message == {
        "type": "observation",
        "seq": 4,
        "faces": 1,
        "face_box": {"left": 230, "top": 110, "width": 180, "height": 240},
        "nose": [390.0, 260.0],
        "in_area": True,
        "fill": 0.444,
        "nose_in_target": True,
        "step": 0,
        "steps": 1,
        "hint": feedback.HOLD_STILL,
    }


def test_feedback_nose_near_target_counts_with_the_verifiers_tolerance() -> None:
    # The 20 px box reaches 20 * nose_tolerance px beyond its edge, as the verifier counts it.
    reach = 20 * VerifierSettings().nose_tolerance
    tracker = FeedbackTracker(CHALLENGE)
    assert tracker.observation(_obs(_face(nose=(400.0 + reach - 0.5, 260.0))))["nose_in_target"] is True
    assert tracker.observation(_obs(_face(nose=(400.0 + reach + 0.5, 260.0))))["nose_in_target"] is False


def test_feedback_once_framed_a_small_drift_out_of_the_area_is_tolerated() -> None:
    tracker = FeedbackTracker(CHALLENGE)
    drifted = _obs(_face(Box(180, 110, 180, 240)))  # 5 px left of the area box, within 5% of its width
    assert tracker.observation(drifted)["hint"] == feedback.CENTRE_FACE
    tracker.observation(_obs(_face()))
    assert tracker.observation(drifted)["in_area"] is True


def test_feedback_frames_of_another_size_are_scaled_into_the_challenge() -> None:
    half = _face(Box(115, 55, 90, 120), nose=(160.0, 120.0))
    message = FeedbackTracker(CHALLENGE).observation(_obs(half, size=(320, 240)))
    assert message["face_box"] == {"left": 230, "top": 110, "width": 180, "height": 240}
    assert message["nose"] == [320.0, 240.0]


def test_feedback_challenge_without_nose_box_says_follow_the_challenge() -> None:
    turn = Challenge("turn", 640, 480, AREA, sequence=("left", "right"))
    assert FeedbackTracker(turn).observation(_obs(_face()))["hint"] == feedback.FOLLOW_CHALLENGE


def test_decision_message_and_poll_carry_the_published_decision() -> None:
    decision = Decision(
        "s1", "pass", "PASSED", "nose", (Check("trajectory_rms", 0.004, 0.02, True),), 30, 0, 1, 2
    )
    assert decision_message(decision) == {"type": "decision", "decision": decision.to_dict()}
    assert poll_response(decision) == {"status": "decided", "decision": decision.to_dict()}
    assert poll_response(None) == {"status": "pending"}


SEQUENCE = Challenge(
    "nose_sequence",
    640,
    480,
    AREA,
    targets=(Box(380, 250, 20, 20), Box(230, 200, 20, 20), Box(400, 180, 20, 20)),
)


def test_feedback_sequence_moves_to_the_next_target_after_the_rest() -> None:
    tracker = FeedbackTracker(SEQUENCE)
    hold = VerifierSettings().target_hold_frames
    first, second = (t.centre for t in SEQUENCE.targets[:2])

    resting = [tracker.observation(_obs(_face(nose=first))) for _ in range(hold)]
    moving = tracker.observation(_obs(_face(nose=first)))
    arrived = tracker.observation(_obs(_face(nose=second)))

    assert [m["step"] for m in resting] == [0] * hold
    assert all(m["nose_in_target"] for m in resting)
    assert (moving["step"], moving["nose_in_target"], moving["hint"]) == (1, False, feedback.NOSE_TO_TARGET)
    assert (arrived["step"], arrived["steps"], arrived["hint"]) == (1, 3, feedback.HOLD_STILL)


def test_feedback_sequence_sweeping_through_a_target_does_not_advance() -> None:
    tracker = FeedbackTracker(SEQUENCE)
    first = SEQUENCE.targets[0].centre

    for _ in range(5):
        tracker.observation(_obs(_face(nose=first)))
        message = tracker.observation(_obs(_face()))

    assert message["step"] == 0
