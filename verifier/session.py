"""One session's state machine: FACE -> AREA -> CHALLENGE -> decided, fed in sequence order.

A ``Session`` is plain data (it round-trips through ``to_dict``/``from_dict``, and
``to_row``/``from_row`` for the streaming verifier's changelog-backed table) and the
functions here are the whole of the decision logic: the Faust agent and the
offline replay both call ``Verifier`` and nothing else decides.

Time limits use server time only: ``received_at_ms`` (the broker's append time
of the frame) and the verifier's own clock for sessions that go silent. The
client's capture times are recorded and compared with the server's, never
trusted for a deadline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from schemas.events import (
    MAX_EVIDENCE_FRAMES,
    Box,
    Challenge,
    Check,
    Decision,
    Evidence,
    Face,
    IdentityRequest,
    IdentitySample,
    Observation,
    SessionEnded,
    SessionStarted,
    SessionTick,
)
from schemas.reasons import Reason
from schemas.tokens import TokenError, TokenKeys, verify_token
from verifier import rows
from verifier.challenges import Frame, Verdict, challenge_type
from verifier.framing import Framing
from verifier.identity import IdentityTrack
from verifier.session_checks import NoFace, SequenceGap, SessionCheck, session_checks
from verifier.settings import VerifierSettings

FACE, AREA, CHALLENGE, DECIDED = "face", "area", "challenge", "decided"
IDENTITY = "identity"  # the challenge passed; the identity samples it asked for are not all in


@dataclass
class Session:
    """Everything the verifier remembers about one session between events."""

    session_id: str
    challenge: Challenge | None = None  # None while observations wait for their session start
    issued_at_ms: int = 0
    expires_at_ms: int = 0
    created_at_ms: int = 0
    phase: str = FACE
    reason: str | None = None
    next_seq: int = 0
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    frames_used: int = 0
    frames_ignored: int = 0
    missing_frames: int = 0
    first_received_ms: int | None = None
    first_captured_ms: int | None = None
    last_received_ms: int | None = None
    last_activity_ms: int = 0  # the verifier's clock when it last heard of this session
    phase_started_ms: int = 0
    reference: dict[str, Any] | None = None
    reference_ms: int = 0
    area_problem: str = Reason.FACE_OUT_OF_AREA.value
    progress: dict[str, Any] = field(default_factory=dict)
    ended_last_seq: int | None = None
    identity: IdentityTrack = field(default_factory=IdentityTrack)
    tenant: str | None = None  # from the session start: copied into the decision
    user_ref: str | None = None
    last_frame: list[int | None] | None = None  # [seq, frame offset] of the last framed face: an audit frame
    # The most frontal framed frames, [error_deg, seq, offset]: reference-image candidates (the
    # processor keeps the sharpest, processors/evidence.py).
    frontal: list[list[Any]] = field(default_factory=list)
    # What the session checks (verifier/session_checks.py) remember, under keys of their own. The
    # row stores them beside the fields above, as rows always have, so rows of either layout load.
    check_state: dict[str, Any] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        return self.phase == DECIDED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot; nested values are shared, not copied (it is serialised at once)."""
        data = {name: getattr(self, name) for name in _SNAPSHOT_FIELDS}
        data.update(self.check_state)
        data["challenge"] = self.challenge.to_dict() if self.challenge else None
        data["pending"] = {str(seq): obs for seq, obs in self.pending.items()}
        data["identity"] = {name: getattr(self.identity, name) for name in _IDENTITY_FIELDS}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        known = _FIELDS
        values = {key: value for key, value in data.items() if key in known}
        values["check_state"] = {key: value for key, value in data.items() if key not in known}
        values["challenge"] = Challenge.from_dict(data["challenge"]) if data.get("challenge") else None
        values["pending"] = {int(seq): obs for seq, obs in data.get("pending", {}).items()}
        values["identity"] = IdentityTrack(**data.get("identity", {}))
        return cls(**values)

    def to_row(self) -> bytes:
        """The session as a table row (``verifier.rows``); ``from_row`` gives back an equal session."""
        return rows.encode_row(self.to_dict(), self.decided)

    @classmethod
    def from_row(cls, row: bytes) -> Session:
        """A session from a table row of this worker or of an older one (``verifier.rows``)."""
        return cls.from_dict(rows.decode_row(row))

    @classmethod
    def row_decided(cls, row: bytes) -> bool:
        """Whether a table row is of a decided session, read from its tag (a plain JSON row is decoded)."""
        decided = rows.row_decided(row)
        return cls.from_row(row).decided if decided is None else decided


_FIELDS = frozenset(f.name for f in fields(Session)) - {"check_state"}
# In field order, computed once: ``fields()`` builds its tuple anew at every call.
_SNAPSHOT_FIELDS = tuple(f.name for f in fields(Session) if f.name != "check_state")
_IDENTITY_FIELDS = tuple(f.name for f in fields(IdentityTrack))


@dataclass(frozen=True)
class Outcome:
    """What one event did: the updated session, and the decision when this event settled it."""

    session: Session
    decision: Decision | None = None
    ignored: bool = False
    orphaned: bool = False  # observations whose session never started: the shell dead-letters them
    identity_requests: tuple[IdentityRequest, ...] = ()  # frames to embed: the shell sends them on


def _face_from(data: dict[str, Any]) -> Face:
    return Face.trusted(data)


def _scaled(face: Face, sx: float, sy: float) -> Face:
    """A face moved from frame pixels into the challenge's declared image size."""
    if sx == 1.0 and sy == 1.0:
        return face
    box = Box(face.box.left * sx, face.box.top * sy, face.box.width * sx, face.box.height * sy)
    points = list(face.landmarks)
    for i in range(0, len(points), 3):
        points[i], points[i + 1], points[i + 2] = points[i] * sx, points[i + 1] * sy, points[i + 2] * sx
    return Face(
        box,
        (face.nose[0] * sx, face.nose[1] * sy),
        face.yaw_deg,
        face.pitch_deg,
        face.roll_deg,
        tuple(points),
    )


def _reference_embedding(session: Session) -> tuple[float, ...] | None:
    """The embedding of the session's first framed frame (the earliest sample): its reference face."""
    embeddings = session.identity.embeddings
    # Rounded as the identity samples are on the wire: the decision round-trips unchanged.
    return tuple(round(v, 5) for v in embeddings[min(embeddings, key=int)]) if embeddings else None


FRONTAL_CANDIDATES = 5


def _note_frontal(session: Session, frame: Frame) -> None:
    """Keep the ``FRONTAL_CANDIDATES`` frames that look most straight at the camera.

    Pitch is compared with the first framed frame's (FaceMesh's pitch zero depends on the face),
    yaw with 0 (it is symmetric).
    """
    if frame.frame_offset is None or session.reference is None:
        return
    error = max(abs(frame.face.yaw_deg), abs(frame.face.pitch_deg - session.reference["pitch_deg"]))
    session.frontal.append([round(error, 2), frame.seq, frame.frame_offset])
    session.frontal.sort()
    del session.frontal[FRONTAL_CANDIDATES:]


def _evidence(session: Session) -> Evidence | None:
    """The frames to keep as evidence: the first framed one, each milestone, the last framed one.

    Only frames read from the frames topic (with an offset) can be copied; a session that never
    framed its face has none. The processor picks the reference image among them.
    """
    named = [(int(seq), offset) for seq, offset in session.identity.requested.items()]
    named += [(seq, offset) for seq, offset in session.progress.get("milestones", [])]
    if session.last_frame is not None:
        named.append((session.last_frame[0], session.last_frame[1]))  # type: ignore[arg-type]
    audit = sorted({seq: offset for seq, offset in named if seq is not None and offset is not None}.items())
    if len(audit) > MAX_EVIDENCE_FRAMES - FRONTAL_CANDIDATES:  # first, last and the earliest between
        audit = [*audit[: MAX_EVIDENCE_FRAMES - FRONTAL_CANDIDATES - 1], audit[-1]]
    candidates = {seq: offset for _, seq, offset in session.frontal}
    frames = sorted({**candidates, **dict(audit)}.items())
    if not frames:
        return None
    sid = session.session_id
    return Evidence(
        reference=Evidence.reference_id(sid),
        audit=tuple(Evidence.frame_id(sid, seq) for seq, _ in audit),
        frames=tuple(frames),
    )


class Verifier:
    """The decision logic for all sessions: feed it events, it returns decisions."""

    def __init__(
        self,
        settings: VerifierSettings | None = None,
        keys: TokenKeys | None = None,
        checks: tuple[SessionCheck, ...] | None = None,
    ) -> None:
        self.settings = settings or VerifierSettings()
        self.keys = keys
        # Reported in this order; each frame goes to the units of the TIMES stage first.
        self.checks = session_checks(self.settings) if checks is None else checks
        self._per_frame = sorted(self.checks, key=lambda unit: unit.stage)
        self._no_face = NoFace(self.settings.max_missed_faces, self.settings.max_consecutive_missed_faces)
        self._gap = SequenceGap(self.settings.max_missing_frames)

    # ---- events -------------------------------------------------------------------------

    def handle(
        self,
        session: Session | None,
        event: SessionStarted | SessionEnded | Observation | SessionTick | IdentitySample,
        now_ms: int,
    ) -> Outcome:
        """Apply any verifier input to the session it belongs to (``None`` when not seen before).

        The outcome carries the identity requests the event gave rise to: the frames that
        reached a milestone of the challenge, to be embedded by the identity stage.
        """
        outcome = self._dispatch(session, event, now_ms)
        wanted = outcome.session.identity.take_outbox()
        if outcome.session.decided:  # a decided session needs no embedding
            return outcome
        # A request raised as the challenge is met holds up the decision: the stage answers it first.
        awaited = outcome.session.phase == IDENTITY
        session_id = outcome.session.session_id
        requests = tuple(IdentityRequest(session_id, seq, offset, now_ms, awaited) for seq, offset in wanted)
        return dataclasses.replace(outcome, identity_requests=requests) if requests else outcome

    def _dispatch(
        self,
        session: Session | None,
        event: SessionStarted | SessionEnded | Observation | SessionTick | IdentitySample,
        now_ms: int,
    ) -> Outcome:
        if isinstance(event, Observation):
            return self.on_observation(session, event, now_ms)
        if isinstance(event, IdentitySample):
            return self.on_identity(session, event, now_ms)
        if isinstance(event, SessionStarted):
            return self.on_started(session, event, now_ms)
        if isinstance(event, SessionEnded):
            return self.on_ended(session, event, now_ms)
        if session is None:
            return Outcome(Session(session_id=event.session_id, created_at_ms=now_ms), ignored=True)
        return self.on_tick(session, now_ms)

    def on_started(self, session: Session | None, event: SessionStarted, now_ms: int) -> Outcome:
        """A session start; a re-sent start of a known session changes nothing."""
        if session is not None and session.challenge is not None:
            return Outcome(session, ignored=True)
        early = session or Session(session_id=event.session_id)  # what arrived before the start
        session = Session(
            session_id=event.session_id,
            challenge=event.challenge,
            issued_at_ms=event.issued_at_ms,
            expires_at_ms=event.expires_at_ms,
            created_at_ms=now_ms,
            phase_started_ms=now_ms,
            pending=early.pending,
            frames_ignored=early.frames_ignored,
            ended_last_seq=early.ended_last_seq,
            tenant=event.tenant,
            user_ref=event.user_ref,
        )
        # Expiry first: a genuine start handled late is EXPIRED, not a bad token. The token's
        # own (signed) expiry must then equal the event's, which every later deadline uses.
        if now_ms > event.expires_at_ms:
            return self._decide(session, Verdict(Reason.EXPIRED, []), now_ms)
        if self.keys is not None:
            try:
                signed_ms = verify_token(self.keys, event.token, event.session_id, event.challenge, now_ms)
                if signed_ms != event.expires_at_ms:
                    raise TokenError("the token's expiry is not the session's")
            except TokenError as exc:
                check = Check("token", None, None, False)
                return self._decide(session, Verdict(Reason.BAD_TOKEN, [check]), now_ms, detail=str(exc))
        return self._drain(session, now_ms, flush=False)

    def on_observation(self, session: Session | None, obs: Observation, now_ms: int) -> Outcome:
        """One frame's observation, possibly out of order; it waits for its predecessors."""
        if session is None:
            session = Session(session_id=obs.session_id, created_at_ms=now_ms)
        session.last_activity_ms = now_ms
        held_too_many = session.challenge is None and len(session.pending) >= self.settings.max_frames
        done = session.decided or session.phase == IDENTITY  # frames after the pass change nothing
        if done or obs.seq < session.next_seq or obs.seq in session.pending or held_too_many:
            session.frames_ignored += 1
            return Outcome(session, ignored=True)
        if session.challenge is not None and obs.seq == session.next_seq and not session.pending:
            # In order, the usual case: applied as ``_drain`` would, without the trip through ``pending``.
            session.next_seq += 1
            outcome = self._apply(session, obs, now_ms)
            return outcome if outcome.decision else self._drain(session, now_ms, flush=False)
        session.pending[obs.seq] = obs.to_dict()
        if session.challenge is None:
            return Outcome(session)
        return self._drain(session, now_ms, flush=False)

    def on_ended(self, session: Session | None, event: SessionEnded, now_ms: int) -> Outcome:
        """The client's last frame was ``last_seq``: decide once every frame up to it is in."""
        if session is None or session.challenge is None:
            session = session or Session(session_id=event.session_id, created_at_ms=now_ms)
            session.ended_last_seq = event.last_seq
            return Outcome(session)
        if session.decided:
            return Outcome(session, ignored=True)
        session.ended_last_seq = event.last_seq
        session.last_activity_ms = now_ms
        return self._drain(session, now_ms, flush=False)

    def on_identity(self, session: Session | None, sample: IdentitySample, now_ms: int) -> Outcome:
        """An embedding the verifier asked for: another person fails at once; the last one settles a pass."""
        if session is None or session.decided or not session.identity.receive(sample.seq, sample.embedding):
            session = session or Session(session_id=sample.session_id, created_at_ms=now_ms)
            return Outcome(session, ignored=True)
        if session.identity.max_distance > self.settings.max_identity_distance:
            return self._decide(session, Verdict(Reason.IDENTITY_CHANGED, []), now_ms)
        if session.phase == IDENTITY and session.identity.complete:
            return self._settle_identity(session, now_ms)
        return Outcome(session)

    def on_tick(self, session: Session, now_ms: int) -> Outcome:
        """The verifier's clock moved: settle sessions that went silent or never started.

        Deadlines inside a session are judged on the frames' server receive times as
        they arrive; this only catches sessions whose frames stopped coming. Silence
        is measured from the last observation the verifier handled, not from the
        frame's receive time, so a backlog in the processors is not mistaken for it.
        """
        if session.challenge is None:
            return Outcome(session, orphaned=self.orphaned(session, now_ms))
        if session.decided:
            return Outcome(session)
        if session.phase == IDENTITY:
            return (
                self._settle_identity(session, now_ms)
                if self._identity_overdue(session, now_ms)
                else Outcome(session)
            )
        if session.first_received_ms is None and not session.pending:
            if now_ms > session.expires_at_ms:
                return self._decide(session, Verdict(Reason.EXPIRED, []), now_ms)
            return Outcome(session)
        if self._silent(session, now_ms):
            return self._drain(session, now_ms, flush=True)
        return Outcome(session)

    def needs_tick(self, session: Session, now_ms: int) -> bool:
        """Whether ``on_tick`` could settle this session now (cheap; used to pick sessions to tick)."""
        if session.decided:
            return False
        if session.challenge is None:
            return self.orphaned(session, now_ms)
        if session.phase == IDENTITY:
            return self._identity_overdue(session, now_ms)
        if session.first_received_ms is None and not session.pending:
            return now_ms > session.expires_at_ms
        return self._silent(session, now_ms)

    def _identity_overdue(self, session: Session, now_ms: int) -> bool:
        """The identity stage did not answer in time: the pass cannot be confirmed."""
        awaiting = session.identity.awaiting or {}
        return now_ms > awaiting.get("since_ms", 0) + int(self.settings.identity_wait_s * 1000)

    def _silent(self, session: Session, now_ms: int) -> bool:
        return now_ms > self.silent_after_ms(session)

    def silent_after_ms(self, session: Session) -> int:
        """The verifier time after which a session with frames outstanding counts as silent."""
        last_heard_ms = max(session.last_activity_ms, session.created_at_ms)
        ended = session.ended_last_seq is not None
        wait_s = self.settings.ended_wait_s if ended else self.settings.idle_timeout_s
        return last_heard_ms + int(wait_s * 1000)

    @staticmethod
    def heard_since(session: Session | None, owned_since_ms: int) -> Session | None:
        """The session as a verifier that has heard its events since ``owned_since_ms`` may judge its silence.

        While no worker owned it (a crash, a rebalance, a recovery) its events were unread, not
        absent: that time is not the client's silence, or a restart would settle every open session.
        """
        if session is not None and session.last_activity_ms < owned_since_ms:
            session.last_activity_ms = owned_since_ms
        if session is not None and session.challenge is None and session.created_at_ms < owned_since_ms:
            # Its start may be among the unread events: the wait for it starts now too, or a
            # restart longer than the idle timeout would drop every session whose frames came first.
            session.created_at_ms = owned_since_ms
        return session

    def orphaned(self, session: Session, now_ms: int) -> bool:
        """Observations with no session start for longer than the idle timeout: never started."""
        return (
            session.challenge is None and now_ms - session.created_at_ms > self.settings.idle_timeout_s * 1000
        )

    # ---- ordering -----------------------------------------------------------------------

    def _drain(self, session: Session, now_ms: int, *, flush: bool) -> Outcome:
        """Apply pending observations in sequence order, skipping a gap once the window is full."""
        s = self.settings
        while session.pending and not session.decided and session.phase != IDENTITY:
            if session.next_seq in session.pending:
                data = session.pending.pop(session.next_seq)
                session.next_seq += 1
                outcome = self._apply(session, Observation.trusted(data), now_ms)
                if outcome.decision:
                    return outcome
                continue
            ended = session.ended_last_seq is not None and max(session.pending) >= session.ended_last_seq
            if not (flush or ended or len(session.pending) > s.reorder_window):
                break
            lowest = min(session.pending)
            session.missing_frames += lowest - session.next_seq
            session.next_seq = lowest
            if session.missing_frames > s.max_missing_frames:
                return self._decide(session, self._gap.verdict(session), now_ms)
        if session.decided or session.phase == IDENTITY:
            return Outcome(session)
        complete = session.ended_last_seq is not None and session.next_seq > session.ended_last_seq
        if flush or complete:
            return self._decide(session, self._incomplete(session), now_ms)
        return Outcome(session)

    # ---- one frame, in order ------------------------------------------------------------

    def _apply(self, session: Session, obs: Observation, now_ms: int) -> Outcome:
        assert session.challenge is not None
        self._count(session, obs)
        face = None
        if len(obs.faces) == 1:
            sx = session.challenge.image_width / obs.image_width
            sy = session.challenge.image_height / obs.image_height
            face = _scaled(obs.faces[0], sx, sy)
        for unit in self._per_frame:
            verdict = unit.observe(session, obs, face)
            if verdict:
                return self._decide(session, verdict, now_ms)
        if face is None:
            return Outcome(session)
        frame = Frame(face, obs.received_at_ms, obs.seq, obs.frame_offset)
        verdict = self._advance(session, frame)
        if session.reference is not None:  # framed: this frame may be the last audit frame
            session.last_frame = frame.milestone
            _note_frontal(session, frame)
        if self.settings.identity_every_step:
            for seq, offset in session.progress.get("milestones", []):
                session.identity.request(seq, offset)
        if verdict is not None and verdict.reason is Reason.PASSED:
            return self._passed(session, verdict, frame, now_ms)
        return self._decide(session, verdict, now_ms) if verdict else Outcome(session)

    @staticmethod
    def _count(session: Session, obs: Observation) -> None:
        """Note a frame in order: the count, and the server and client times of the first and last."""
        session.frames_used += 1
        if session.first_received_ms is None:
            session.first_received_ms, session.first_captured_ms = obs.received_at_ms, obs.captured_at_ms
            session.phase_started_ms = obs.received_at_ms
        session.last_received_ms = obs.received_at_ms

    def _passed(self, session: Session, verdict: Verdict, frame: Frame, now_ms: int) -> Outcome:
        """The challenge is met: decide once the identity samples are in, else wait for them."""
        if not self.settings.identity_required:
            return self._decide(session, verdict, now_ms)
        # The last milestone (the final rest), or the deciding frame of a plug-in that names none.
        final = (session.progress.get("milestones") or [frame.milestone])[-1]
        session.identity.request(*final)
        session.identity.ask_again_unanswered()
        session.identity.awaiting = {"checks": [c.to_dict() for c in verdict.checks], "since_ms": now_ms}
        if session.identity.complete:
            return self._settle_identity(session, now_ms)
        session.phase = IDENTITY
        return Outcome(session)

    def _settle_identity(self, session: Session, now_ms: int) -> Outcome:
        """The pass stands if every sample is in and shows one person; otherwise ``IDENTITY_CHANGED``."""
        awaiting = session.identity.awaiting or {"checks": []}
        checks = [Check.from_dict(c) for c in awaiting["checks"]]
        identity = session.identity.checks(self.settings.max_identity_distance)
        reason = Reason.PASSED if all(c.passed for c in identity) else Reason.IDENTITY_CHANGED
        return self._decide(session, Verdict(reason, [*checks, *identity]), now_ms)

    def _advance(self, session: Session, frame: Frame) -> Verdict | None:
        s = self.settings
        assert session.challenge is not None
        if session.phase == FACE:
            session.phase, session.phase_started_ms = AREA, frame.received_at_ms
        if session.phase == AREA:
            return self._framing(session, frame)
        plugin = challenge_type(session.challenge.type)
        elapsed_s = (frame.received_at_ms - session.phase_started_ms) / 1000
        if elapsed_s > plugin.time_limit_s(session.challenge, s):
            return self._incomplete(session)
        if not Framing.of(session.challenge, s).stays(frame.face.box):
            return Verdict(Reason.FACE_OUT_OF_AREA, [Check("face_in_area", 0.0, 1.0, False)])
        assert session.reference is not None
        reference = Frame(_face_from(session.reference), session.reference_ms)
        return plugin.step(session.progress, session.challenge, reference, frame, s)

    def _framing(self, session: Session, frame: Frame) -> Verdict | None:
        s = self.settings
        assert session.challenge is not None
        if (frame.received_at_ms - session.phase_started_ms) / 1000 > s.area_timeout_s:
            return Verdict(Reason(session.area_problem), [Check("face_in_area", 0.0, 1.0, False)])
        problem = Framing.of(session.challenge, s).problem(frame.face.box)
        if problem is not None:
            session.area_problem = problem.value
            return None
        session.phase, session.phase_started_ms = CHALLENGE, frame.received_at_ms
        session.reference, session.reference_ms = frame.face.to_dict(), frame.received_at_ms
        session.identity.request(frame.seq, frame.frame_offset)
        session.progress = challenge_type(session.challenge.type).begin(session.challenge, frame)
        return None

    def _incomplete(self, session: Session) -> Verdict:
        """The verdict when frames ran out, time ran out or the client ended before the challenge was done."""
        if session.phase in (FACE, AREA):
            if session.phase == FACE:  # no frame had one face: AREA begins with the first that did
                return self._no_face.verdict(session)
            return Verdict(Reason(session.area_problem), [Check("face_in_area", 0.0, 1.0, False)])
        assert session.challenge is not None and session.reference is not None
        reference = Frame(_face_from(session.reference), session.reference_ms)
        plugin = challenge_type(session.challenge.type)
        return plugin.incomplete(session.progress, session.challenge, reference, self.settings)

    # ---- the one decision ---------------------------------------------------------------

    def _decide(self, session: Session, verdict: Verdict, now_ms: int, detail: str | None = None) -> Outcome:
        assert session.challenge is not None
        names = {check.name for check in verdict.checks}
        checks = list(verdict.checks) + [c for c in self._session_checks(session) if c.name not in names]
        session.phase, session.reason = DECIDED, verdict.reason.value
        evidence = _evidence(session)
        session.pending.clear()
        session.progress, session.reference = {}, None
        for unit in self.checks:
            for key in unit.transient:
                session.check_state.pop(key, None)
        reference_embedding = _reference_embedding(session)
        session.identity.embeddings, session.identity.awaiting = {}, None  # decided rows stay forever
        decision = Decision(
            session_id=session.session_id,
            outcome="pass" if verdict.reason is Reason.PASSED else "fail",
            reason=verdict.reason.value,
            challenge_type=session.challenge.type,
            checks=tuple(checks),
            frames_used=session.frames_used,
            frames_ignored=session.frames_ignored,
            started_at_ms=session.issued_at_ms,
            decided_at_ms=now_ms,
            tenant=session.tenant,
            user_ref=session.user_ref,
            reference_embedding=reference_embedding,
            evidence=evidence,
        )
        return Outcome(session, decision)

    def _session_checks(self, session: Session) -> list[Check]:
        return [check for unit in self.checks for check in unit.checks(session)]
