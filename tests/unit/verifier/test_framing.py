"""The framing rule: one table of boxes in, the rule's answers out."""

from __future__ import annotations

import pytest
from real_faces import (
    KEYS,
    PEOPLE,
    ended,
    nose_challenge,
    nose_path,
    observations,
    only_decision,
    real_mesh,
    started,
)

from schemas.events import Box, Challenge
from schemas.reasons import Reason
from verifier.challenges import area_box
from verifier.framing import Framing, nose_targets
from verifier.session import Verifier
from verifier.settings import VerifierSettings

AREA = area_box(640, 480)  # (185, 60, 270, 360)
TARGET = Box(395, 230, 20, 20)
CHALLENGE = Challenge("nose", 640, 480, AREA, nose=TARGET)
FRAMING = Framing.of(CHALLENGE, VerifierSettings())


@pytest.mark.parametrize(
    ("box", "problem"),
    [
        (Box(220, 100, 200, 250), None),
        (Box(180, 100, 200, 250), Reason.FACE_OUT_OF_AREA),  # 5 px left of the area
        (Box(250, 150, 80, 100), Reason.FACE_TOO_SMALL),  # 8% of the area
        (Box(185, 60, 270, 360), None),  # the area itself
    ],
)
def test_framing_problem_names_why_a_box_does_not_frame(box: Box, problem: Reason | None) -> None:
    assert FRAMING.problem(box) is problem


def test_framing_stays_allows_the_tolerance_once_framed() -> None:
    drifted = Box(AREA.left - 0.04 * AREA.width, 100, 200, 250)
    gone = Box(AREA.left - 0.06 * AREA.width, 100, 200, 250)

    assert FRAMING.problem(drifted) is Reason.FACE_OUT_OF_AREA
    assert FRAMING.stays(drifted) and not FRAMING.stays(gone)


def test_framing_nose_in_target_within_the_widened_box() -> None:
    reach = 20 * VerifierSettings().nose_tolerance

    assert FRAMING.in_target(TARGET, (395 - reach + 0.5, 240))
    assert not FRAMING.in_target(TARGET, (395 - reach - 0.5, 240))


def test_framing_rest_complete_after_hold_frames_unless_rests_are_not_judged() -> None:
    hold = VerifierSettings().target_hold_frames
    following = Framing.of(CHALLENGE, VerifierSettings(judge_rests=False))

    assert not FRAMING.rested(hold - 1) and FRAMING.rested(hold)
    assert not following.rested(1000)


def test_framing_nose_targets_of_each_challenge_kind() -> None:
    sequence = Challenge("nose_sequence", 640, 480, AREA, targets=(TARGET, TARGET))

    assert nose_targets(CHALLENGE) == (TARGET,)
    assert nose_targets(sequence) == (TARGET, TARGET)
    assert nose_targets(Challenge("blink", 640, 480, AREA, blinks=1)) == ()


def test_framing_without_judged_rests_the_verifier_follows_a_genuine_turn_to_its_end() -> None:
    challenge = nose_challenge()
    frames = observations(nose_path(real_mesh(PEOPLE[0]), challenge, 20.0))
    events = [started(challenge), *frames, ended(frames[-1].seq)]

    judged = only_decision(events, Verifier(VerifierSettings(), KEYS))
    followed = only_decision(events, Verifier(VerifierSettings(judge_rests=False), KEYS))

    assert judged.reason == Reason.PASSED
    assert (followed.reason, followed.frames_used) == (Reason.TIMEOUT, len(frames))
