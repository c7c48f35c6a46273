"""The checks that watch a whole session, whatever the challenge: each a small unit named by its reason.

A unit holds its thresholds, sees every frame in sequence order (``observe``), may end the
session with its reason, and reports its measurements in every decision (``checks``). What
it remembers between frames lives in the session's ``check_state`` under keys of its own
(``state``, with their initial values), so a new check needs a unit and a line in
``session_checks``, not a new field on ``Session``; the keys go into the session's table
row as they are, which is why the units below use the names rows have always had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from schemas.events import Check, Face, Observation
from schemas.reasons import DeadLetterReason, Reason
from verifier.challenges import Verdict
from verifier.checks import as_shape_signature, persistent_shape_jump, shape_signature
from verifier.settings import VerifierSettings

if TYPE_CHECKING:
    from verifier.session import Session

TOO_LARGE = DeadLetterReason.FRAME_TOO_LARGE  # the processor's error for a frame over the size limit
# When a unit sees a frame: with the frame's times, before its faces are looked at, or with them.
TIMES, FACES = 0, 1


class SessionCheck(Protocol):
    """A check over the whole session. ``face`` is the frame's one face (scaled), else ``None``."""

    reason: ClassVar[Reason]
    stage: ClassVar[int]
    state: ClassVar[Mapping[str, Any]]  # its keys in ``Session.check_state``, with their initial values
    transient: ClassVar[tuple[str, ...]]  # state a decided session forgets (decided rows stay forever)

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None: ...

    def checks(self, session: Session) -> list[Check]: ...


class Unit:
    """What most units share: they see frames with their faces, keep no state, report nothing."""

    reason: ClassVar[Reason]
    stage: ClassVar[int] = FACES
    state: ClassVar[Mapping[str, Any]] = {}
    transient: ClassVar[tuple[str, ...]] = ()

    def checks(self, session: Session) -> list[Check]:
        return []

    def verdict(self, session: Session) -> Verdict:
        """The session fails with this unit's reason and what it measured."""
        return Verdict(self.reason, self.checks(session))


def state(session: Session, unit: SessionCheck) -> dict[str, Any]:
    """The session's ``check_state``, with the unit's keys set to their initial values where unset."""
    values = session.check_state
    for key, initial in unit.state.items():
        if key not in values:
            values[key] = list(initial) if isinstance(initial, list) else initial
    return values


@dataclass(frozen=True)
class Limits(Unit):
    """What one session may cost: frames, seconds from its first frame, bytes a frame; and a start in time."""

    max_frames: int
    max_session_s: float
    reason: ClassVar[Reason] = Reason.LIMIT_EXCEEDED
    stage: ClassVar[int] = TIMES

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        assert session.first_received_ms is not None
        if session.frames_used == 1 and obs.received_at_ms > session.expires_at_ms:
            return Verdict(Reason.EXPIRED, [Check("started_before_expiry", 0.0, 1.0, False)])
        if session.frames_used > self.max_frames:
            check = Check("frames", float(session.frames_used), float(self.max_frames), False)
            return Verdict(self.reason, [check])
        elapsed_s = (obs.received_at_ms - session.first_received_ms) / 1000
        if elapsed_s > self.max_session_s:
            return Verdict(self.reason, [Check("session_s", round(elapsed_s, 3), self.max_session_s, False)])
        if obs.error == TOO_LARGE:
            return Verdict(self.reason, [Check("frame_size", None, None, False)])
        return None


@dataclass(frozen=True)
class ClockSkew(Unit):
    """The client's capture clock may not sit far from the server's, nor drift from it during the session."""

    max_offset_ms: int
    max_drift_ms: int
    reason: ClassVar[Reason] = Reason.CLOCK_SKEW
    stage: ClassVar[int] = TIMES
    state: ClassVar[Mapping[str, Any]] = {"max_clock_drift_ms": 0}

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        assert session.first_captured_ms is not None and session.first_received_ms is not None
        values = state(session, self)
        offset = abs(obs.captured_at_ms - obs.received_at_ms)
        drift = abs(
            (obs.captured_at_ms - session.first_captured_ms)
            - (obs.received_at_ms - session.first_received_ms)
        )
        values["max_clock_drift_ms"] = max(values["max_clock_drift_ms"], drift)
        if offset > self.max_offset_ms:
            return Verdict(
                self.reason, [Check("clock_offset_ms", float(offset), float(self.max_offset_ms), False)]
            )
        if drift > self.max_drift_ms:
            return Verdict(
                self.reason, [Check("clock_drift_ms", float(drift), float(self.max_drift_ms), False)]
            )
        return None

    def checks(self, session: Session) -> list[Check]:
        drift = state(session, self)["max_clock_drift_ms"]
        return [Check("clock_drift_ms", float(drift), float(self.max_drift_ms), drift <= self.max_drift_ms)]


@dataclass(frozen=True)
class SequenceGap(Unit):
    """Frames the session never got, or got unreadable, may not exceed the allowance.

    The count is the session's own (``missing_frames``): its ordering skips gaps too.
    """

    max_missing: int
    reason: ClassVar[Reason] = Reason.SEQUENCE_GAP

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        if obs.error is None:
            return None
        session.missing_frames += 1  # an undecodable frame counts as a missing one
        return self.verdict(session) if session.missing_frames > self.max_missing else None

    def checks(self, session: Session) -> list[Check]:
        missing = session.missing_frames
        return [Check("missing_frames", float(missing), float(self.max_missing), missing <= self.max_missing)]


@dataclass(frozen=True)
class MultipleFaces(Unit):
    """One person takes the challenge: a readable frame with more than one face ends the session."""

    reason: ClassVar[Reason] = Reason.MULTIPLE_FACES

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        if obs.error is None and len(obs.faces) > 1:
            return Verdict(self.reason, [Check("faces", float(len(obs.faces)), 1.0, False)])
        return None


@dataclass(frozen=True)
class NoFace(Unit):
    """Frames without a face are forgiven up to a count, and up to a shorter run in a row (motion blur)."""

    max_missed: int
    max_consecutive: int
    reason: ClassVar[Reason] = Reason.NO_FACE
    state: ClassVar[Mapping[str, Any]] = {"missed_faces": 0, "consecutive_missed": 0}

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        if obs.error is not None or len(obs.faces) > 1:
            return None
        values = state(session, self)
        if obs.faces:
            values["consecutive_missed"] = 0
            return None
        values["missed_faces"] += 1
        values["consecutive_missed"] += 1
        if values["missed_faces"] > self.max_missed or values["consecutive_missed"] > self.max_consecutive:
            return self.verdict(session)
        return None

    def checks(self, session: Session) -> list[Check]:
        values = state(session, self)
        missed = values["missed_faces"]
        passed = (
            missed <= self.max_missed
            and values["consecutive_missed"] <= self.max_consecutive
            and session.frames_used > missed
        )
        return [Check("frames_without_face", float(missed), float(self.max_missed), passed)]


@dataclass(frozen=True)
class Continuity(Unit):
    """A head cannot jump: bound the nose's and the face's change per frame step, and splices of faces."""

    max_nose_jump: float
    max_scale_jump: float
    max_shape_jump: float
    reason: ClassVar[Reason] = Reason.DISCONTINUITY
    state: ClassVar[Mapping[str, Any]] = {
        "last_face": None,
        "last_seq_used": -1,
        "max_nose_jump": 0.0,
        "max_scale_jump": 0.0,
        "max_shape_jump": 0.0,
        "recent_shapes": [],  # the last frames' shape signatures
    }
    transient: ClassVar[tuple[str, ...]] = ("last_face", "recent_shapes")

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        if face is None:
            return None
        values = state(session, self)
        previous = Face.trusted(values["last_face"]) if values["last_face"] else None
        steps = max(1, obs.seq - values["last_seq_used"])
        values["last_face"], values["last_seq_used"] = face.to_dict(), obs.seq
        recent = [as_shape_signature(shape) for shape in values["recent_shapes"][-3:]]
        values["recent_shapes"] = [*recent, shape_signature(face)]
        shapes = values["recent_shapes"]
        shape = persistent_shape_jump(shapes) if len(shapes) == 4 else 0.0
        if previous is None:
            return None
        width = max(previous.box.width, 1.0)
        nose_step = ((face.nose[0] - previous.nose[0]) ** 2 + (face.nose[1] - previous.nose[1]) ** 2) ** 0.5
        jump = nose_step / width / steps
        scale = abs(face.box.width / width - 1.0) / steps
        values["max_nose_jump"] = max(values["max_nose_jump"], jump)
        values["max_scale_jump"] = max(values["max_scale_jump"], scale)
        values["max_shape_jump"] = max(values["max_shape_jump"], shape)
        if jump > self.max_nose_jump or scale > self.max_scale_jump or shape > self.max_shape_jump:
            return Verdict(self.reason, self.checks(session))
        return None

    def checks(self, session: Session) -> list[Check]:
        values = state(session, self)
        return [
            Check(name, round(values[name], 4), limit, values[name] <= limit)
            for name, limit in (
                ("max_nose_jump", self.max_nose_jump),
                ("max_scale_jump", self.max_scale_jump),
                ("max_shape_jump", self.max_shape_jump),
            )
        ]


@dataclass(frozen=True)
class IdentityContinuity(Unit):
    """One person throughout: the embeddings of the milestones against the first framed frame's.

    It decides when the challenge is met (the session waits for the samples, which the
    session's identity track holds); on any other decision it reports the first comparison
    made so far.
    """

    max_distance: float
    reason: ClassVar[Reason] = Reason.IDENTITY_CHANGED

    def observe(self, session: Session, obs: Observation, face: Face | None) -> Verdict | None:
        return None

    def checks(self, session: Session) -> list[Check]:
        return session.identity.checks(self.max_distance)[: 1 if session.identity.embeddings else 0]


def session_checks(settings: VerifierSettings) -> tuple[SessionCheck, ...]:
    """The session checks with the verifier's thresholds, in the order their checks are reported."""
    s = settings
    return (
        NoFace(s.max_missed_faces, s.max_consecutive_missed_faces),
        SequenceGap(s.max_missing_frames),
        Continuity(s.max_nose_jump, s.max_scale_jump, s.max_shape_jump),
        IdentityContinuity(s.max_identity_distance),
        Limits(s.max_frames, s.max_session_s),
        ClockSkew(s.max_clock_offset_ms, s.max_clock_drift_ms),
        MultipleFaces(),
    )
