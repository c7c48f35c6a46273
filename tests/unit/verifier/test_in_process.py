"""The core driven in one process: identity answers at once, the silence rule, settling a silent end."""

from __future__ import annotations

from real_faces import (
    KEYS,
    PEOPLE,
    SESSION_ID,
    ended,
    nose_challenge,
    nose_path,
    observations,
    real_mesh,
    started,
)

from schemas.events import IdentityRequest, IdentitySample, Observation
from schemas.reasons import Reason
from verifier.in_process import InProcessVerifier
from verifier.session import Outcome, Session, Verifier
from verifier.settings import VerifierSettings

SETTINGS = VerifierSettings()
CHALLENGE = nose_challenge()
START = started(CHALLENGE)
TURN_DEG = max(20.0, 2.5 * SETTINGS.min_rotation_deg, 2.5 * SETTINGS.wrong_direction_deg)


class Answers:
    """An identity stage that embeds every frame as one person, and keeps what it was asked."""

    def __init__(self) -> None:
        self.asked: list[int] = []
        self.awaited: list[bool] = []

    def __call__(self, request: IdentityRequest) -> IdentitySample:
        self.asked.append(request.seq)
        self.awaited.append(request.awaited)
        return IdentitySample(request.session_id, request.seq, (1.0, 0.0, 0.0), None)


def run(core: InProcessVerifier, frames: list[Observation]) -> Outcome:
    outcome = core.apply(None, START, START.issued_at_ms)
    for obs in frames:
        if outcome.decision:
            break
        outcome = core.apply(outcome.session, obs, obs.received_at_ms)
    return outcome


def test_heard_since_moves_silence_to_the_ownership_time() -> None:
    session = Session(SESSION_ID, last_activity_ms=1_000)

    heard = Verifier.heard_since(session, 5_000)

    assert heard is session and session.last_activity_ms == 5_000


def test_heard_since_keeps_activity_heard_after_the_ownership_time() -> None:
    session = Session(SESSION_ID, last_activity_ms=9_000)

    assert Verifier.heard_since(session, 5_000) is session and session.last_activity_ms == 9_000
    assert Verifier.heard_since(None, 5_000) is None


def test_heard_since_a_restart_does_not_settle_a_session_as_silent() -> None:
    verifier = Verifier(SETTINGS, KEYS)
    frames = observations(nose_path(real_mesh(PEOPLE[0]), CHALLENGE, 0.0, frames=4))
    session = run(InProcessVerifier(verifier, Answers()), frames).session
    restarted_ms = verifier.silent_after_ms(session) + 1  # silent by the clock, but unread till now

    assert verifier.needs_tick(session, restarted_ms)
    assert not verifier.needs_tick(verifier.heard_since(session, restarted_ms), restarted_ms)  # type: ignore[arg-type]


def test_in_process_answers_each_identity_request_and_passes() -> None:
    answers = Answers()
    frames = observations(nose_path(real_mesh(PEOPLE[0]), CHALLENGE, TURN_DEG))

    outcome = run(InProcessVerifier(Verifier(SETTINGS, KEYS), answers), frames)

    assert outcome.decision is not None and outcome.decision.reason == Reason.PASSED
    assert len(answers.asked) >= 2  # the first framed frame and the final rest


def test_only_the_request_a_decision_waits_for_is_marked_awaited() -> None:
    answers = Answers()
    frames = observations(nose_path(real_mesh(PEOPLE[0]), CHALLENGE, TURN_DEG))

    outcome = run(InProcessVerifier(Verifier(SETTINGS, KEYS), answers), frames)

    assert outcome.decision is not None and outcome.decision.reason == Reason.PASSED
    # The first framed frame is asked for seconds before the pass needs it; the final rest's
    # sample is asked for as the challenge is met, and the decision waits for it.
    assert answers.awaited[0] is False
    assert answers.awaited[-1] is True
    assert answers.awaited.count(True) == 1


def test_at_the_pass_every_unanswered_request_is_asked_again_as_awaited() -> None:
    verifier = Verifier(SETTINGS, KEYS)
    outcome = verifier.handle(None, START, START.issued_at_ms)
    sent: list[IdentityRequest] = []
    for obs in observations(nose_path(real_mesh(PEOPLE[0]), CHALLENGE, TURN_DEG)):
        outcome = verifier.handle(outcome.session, obs, obs.received_at_ms)
        sent += outcome.identity_requests  # sent, and never answered
        if outcome.session.phase == "identity":
            break

    (
        first,
        *_,
    ) = [r for r in sent if not r.awaited]
    again = [r for r in sent if r.awaited]
    assert outcome.decision is None  # the pass waits for its samples
    # The first framed frame's request, still unanswered, goes again with the final rest's,
    # both awaited: the decision waits for both, and the stage answers awaited ones first.
    assert first.seq in {r.seq for r in again}
    assert len(again) == len({r.seq for r in sent})
    answer = IdentitySample(SESSION_ID, first.seq, (1.0, 0.0, 0.0), None)
    outcome = verifier.handle(outcome.session, answer, again[0].requested_at_ms)
    twice = verifier.handle(outcome.session, answer, again[0].requested_at_ms)
    assert twice.ignored  # the second answer to the same frame changes nothing


def test_in_process_finish_settles_a_session_whose_frames_never_came() -> None:
    core = InProcessVerifier(Verifier(SETTINGS, KEYS), Answers())
    outcome = core.apply(None, START, START.issued_at_ms)

    decision = core.finish(outcome, ended(5).last_seq, ended(5).ended_at_ms)

    assert (decision.outcome, decision.frames_used) == ("fail", 0)


def test_in_process_finish_keeps_a_decision_already_made() -> None:
    core = InProcessVerifier(Verifier(SETTINGS, KEYS), Answers())
    frames = observations(nose_path(real_mesh(PEOPLE[0]), CHALLENGE, TURN_DEG))
    outcome = run(core, frames)

    assert core.finish(outcome, frames[-1].seq, frames[-1].received_at_ms) == outcome.decision
