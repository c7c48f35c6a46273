"""Session checks as units: each fed frames alone, its state under its own keys, a new one only listed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from real_faces import (
    KEYS,
    PEOPLE,
    ended,
    face,
    nose_challenge,
    nose_path,
    observation,
    observations,
    only_decision,
    play,
    real_mesh,
    started,
    translated,
)

from schemas.events import Check, Face, Observation
from schemas.reasons import Reason
from verifier.challenges import Verdict
from verifier.session import Session, Verifier
from verifier.session_checks import (
    ClockSkew,
    Continuity,
    MultipleFaces,
    NoFace,
    SequenceGap,
    Unit,
    session_checks,
)
from verifier.session_checks import state as unit_state
from verifier.settings import VerifierSettings

SETTINGS = VerifierSettings()
CHALLENGE = nose_challenge()
MESH = real_mesh(PEOPLE[0])
ONE = face(MESH)


def fresh() -> Session:
    return Session("unit", challenge=CHALLENGE, frames_used=1, first_received_ms=0, first_captured_ms=0)


def test_no_face_unit_fails_past_the_consecutive_allowance() -> None:
    unit, session = NoFace(max_missed=5, max_consecutive=2), fresh()

    verdicts = [unit.observe(session, observation(seq, []), None) for seq in range(3)]

    assert verdicts[:2] == [None, None]
    assert verdicts[2] is not None and verdicts[2].reason is Reason.NO_FACE
    assert session.check_state == {"missed_faces": 3, "consecutive_missed": 3}


def test_no_face_unit_a_face_ends_the_run_of_misses() -> None:
    unit, session = NoFace(max_missed=5, max_consecutive=2), fresh()

    for seq, faces in enumerate([[], [], [ONE], [], []]):
        assert unit.observe(session, observation(seq, faces), ONE if faces else None) is None

    assert session.check_state == {"missed_faces": 4, "consecutive_missed": 2}


def test_sequence_gap_unit_counts_unreadable_frames_as_missing() -> None:
    unit, session = SequenceGap(max_missing=1), fresh()

    first = unit.observe(session, observation(0, [], error="UNDECODABLE"), None)
    second = unit.observe(session, observation(1, [], error="UNDECODABLE"), None)

    assert first is None and second is not None and second.reason is Reason.SEQUENCE_GAP
    assert session.missing_frames == 2


def test_multiple_faces_unit_fails_on_two_faces_only() -> None:
    unit, session = MultipleFaces(), fresh()

    assert unit.observe(session, observation(0, [ONE]), ONE) is None
    verdict = unit.observe(session, observation(1, [ONE, ONE]), None)

    assert verdict is not None and verdict.reason is Reason.MULTIPLE_FACES


@pytest.mark.parametrize(("offset_ms", "fails"), [(0, False), (SETTINGS.max_clock_drift_ms + 1, True)])
def test_clock_skew_unit_bounds_the_drift(offset_ms: int, fails: bool) -> None:
    unit, session = ClockSkew(SETTINGS.max_clock_offset_ms, SETTINGS.max_clock_drift_ms), fresh()
    obs = observation(1, [ONE], received_at_ms=1_000, captured_at_ms=1_000 + offset_ms)

    verdict = unit.observe(session, obs, ONE)

    assert (verdict is not None) is fails
    assert session.check_state["max_clock_drift_ms"] == offset_ms


def test_continuity_unit_fails_a_jump_of_the_nose() -> None:
    unit, session = (
        Continuity(SETTINGS.max_nose_jump, SETTINGS.max_scale_jump, SETTINGS.max_shape_jump),
        fresh(),
    )
    jumped = face(translated(MESH, 2 * SETTINGS.max_nose_jump * ONE.box.width, 0.0))

    assert unit.observe(session, observation(0, [ONE]), ONE) is None
    verdict = unit.observe(session, observation(1, [jumped]), jumped)

    assert verdict is not None and verdict.reason is Reason.DISCONTINUITY
    assert [c.name for c in verdict.checks if not c.passed] == ["max_nose_jump"]


def test_session_checks_report_in_the_decision_order() -> None:
    names = [c.name for unit in session_checks(SETTINGS) for c in unit.checks(fresh())]

    assert names == [
        "frames_without_face",
        "missing_frames",
        "max_nose_jump",
        "max_scale_jump",
        "max_shape_jump",
        "clock_drift_ms",
    ]


@dataclass(frozen=True)
class FrameBudget(Unit):
    """A check a deployment could add: at most ``limit`` frames with one face."""

    limit: int
    reason: ClassVar[Reason] = Reason.LIMIT_EXCEEDED
    state: ClassVar[dict[str, Any]] = {"faced_frames": 0}

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        unit_state(session, self)["faced_frames"] += face is not None
        return None if self.checks(session)[0].passed else self.verdict(session)

    def checks(self, session: Session) -> list[Check]:
        count = unit_state(session, self)["faced_frames"]
        return [Check("faced_frames", float(count), float(self.limit), count <= self.limit)]


def test_a_new_unit_is_listed_not_added_to_the_session() -> None:
    verifier = Verifier(SETTINGS, KEYS, checks=(*session_checks(SETTINGS), FrameBudget(3)))
    frames = observations(nose_path(MESH, CHALLENGE, 20.0))

    decision = only_decision([started(CHALLENGE), *frames, ended(frames[-1].seq)], verifier)

    assert (decision.reason, decision.frames_used) == (Reason.LIMIT_EXCEEDED, 4)
    assert ("faced_frames", 4.0, False) in [(c.name, c.value, c.passed) for c in decision.checks]


def test_unit_state_stored_under_the_row_keys_of_earlier_workers() -> None:
    session, _ = play([started(CHALLENGE), *observations(nose_path(MESH, CHALLENGE, 20.0))[:5]])
    assert session is not None
    data = session.to_dict()
    for key in ("missed_faces", "consecutive_missed", "last_face", "max_nose_jump", "max_clock_drift_ms"):
        assert key in data, key
    assert "check_state" not in data

    assert Session.from_dict(data) == session
