"""The rules that keep one correct decision per session through crashes, restarts and backlogs (no broker).

Each was found by a scenario of ``liveness reliability`` (see docs/reliability.md):
silence is not judged while frames are known to be in flight or while no worker
owned the session, and a decision is emitted once, before its row says decided.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson

from producers.challenge_service import ChallengeService
from schemas.codec import decode_decision, encode
from schemas.events import Observation, SessionEnded, SessionTick
from schemas.tokens import TokenKeys
from verifier.agent import VerifierShell
from verifier.session import Session, Verifier
from verifier.settings import VerifierSettings

KEYS = TokenKeys(b"recovery-rules-secret-32-bytes!!")
SETTINGS = VerifierSettings()
T0 = 1_700_000_000_000
IDLE_MS = int(SETTINGS.idle_timeout_s * 1000)
ENDED_MS = int(SETTINGS.ended_wait_s * 1000)


def no_face(session_id: str, seq: int) -> Observation:
    return Observation(session_id, seq, T0 + 100 * seq, T0 + 100 * seq, 640, 480, ())


def opened(ended_last_seq: int | None = None) -> tuple[Verifier, Session]:
    """A started session with two frames handled at T0 and, optionally, the client's end (frames missing)."""
    verifier = Verifier(SETTINGS, KEYS)
    started = ChallengeService(KEYS).start(T0, session_id="s1")
    session = verifier.on_started(None, started, T0).session
    for seq in (0, 1):
        session = verifier.on_observation(session, no_face("s1", seq), T0).session
    if ended_last_seq is not None:
        session = verifier.on_ended(session, SessionEnded("s1", T0, ended_last_seq), T0).session
    return verifier, session


def test_verifier_silent_client_before_end_settled_after_idle_timeout() -> None:
    verifier, session = opened()
    assert verifier.on_tick(session, T0 + IDLE_MS).decision is None
    assert verifier.on_tick(session, T0 + IDLE_MS + 1).decision is not None


def test_verifier_frames_in_flight_after_end_waited_for_past_idle_timeout() -> None:
    """A processor crash or a flood delays observations; the client's end says they exist."""
    verifier, session = opened(ended_last_seq=5)
    assert not verifier.needs_tick(session, T0 + IDLE_MS + 1)
    assert verifier.on_tick(session, T0 + IDLE_MS + 1).decision is None
    assert verifier.on_tick(session, T0 + ENDED_MS + 1).decision is not None


def test_verifier_end_counts_as_activity_for_silence() -> None:
    verifier, session = opened()
    session = verifier.on_ended(session, SessionEnded("s1", T0, 5), T0 + 10_000).session
    assert verifier.silent_after_ms(session) == T0 + 10_000 + ENDED_MS


def test_verifier_late_frames_after_end_give_undisturbed_decision() -> None:
    verifier, session = opened(ended_last_seq=5)
    later = T0 + 60_000  # a minute of processor outage: longer than the idle timeout
    session = verifier.on_tick(session, later).session
    for seq in (2, 3):
        outcome = verifier.on_observation(session, no_face("s1", seq), later)
        session = outcome.session
    assert outcome.decision is not None and outcome.decision.reason == "NO_FACE"
    assert outcome.decision.checks[0].value == 4.0  # every frame was counted, none skipped


# ---- the Faust shell, with a dict for the table and recording topics ----------------------------


@dataclass
class Message:
    key: bytes
    value: bytes
    topic: str = "sessions"
    partition: int = 0
    offset: int = 0


class RecordingTopic:
    """Stands in for a Faust topic: keeps what was sent, and the table row at the moment of sending."""

    def __init__(self, table: dict[bytes, Any]) -> None:
        self.table, self.sent, self.row_at_send = table, [], []

    async def send(self, key: bytes, value: bytes) -> asyncio.Future[None]:
        self.sent.append((key, value))
        self.row_at_send.append(self.table.get(key))
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivery.set_result(None)
        return delivery


def shell() -> tuple[VerifierShell, dict[bytes, Any], RecordingTopic]:
    table: dict[bytes, Any] = {}
    decisions = RecordingTopic(table)
    others = RecordingTopic(table)
    return VerifierShell(Verifier(SETTINGS, KEYS), table, decisions, others, others, others), table, decisions


def expired_start() -> Message:
    """A session start that is decided (EXPIRED) as soon as it is handled."""
    started = ChallengeService(KEYS).start(T0 - 10 * 60 * 1000, session_id="s1")
    return Message(b"s1", encode(started))


async def test_verifier_shell_decision_sent_before_row_says_decided() -> None:
    verifier_shell, table, decisions = shell()
    await verifier_shell.on_message(expired_start(), T0)
    assert [decode_decision(v).reason for _, v in decisions.sent] == ["EXPIRED"]
    assert decisions.row_at_send == [None]  # the row came after: a crash between repeats, never loses
    assert Session.from_dict(orjson.loads(table[b"s1"])).decided


async def test_verifier_shell_decision_already_on_topic_not_sent_again() -> None:
    verifier_shell, table, decisions = shell()
    verifier_shell.decided_before = {b"s1"}  # read back from the decisions topic after a restart
    await verifier_shell.on_message(expired_start(), T0)
    assert decisions.sent == []
    assert b"s1" in table


async def test_verifier_shell_time_without_an_owner_not_counted_as_silence() -> None:
    verifier_shell, table, decisions = shell()
    started = ChallengeService(KEYS).start(T0, session_id="s1")
    await verifier_shell.on_message(Message(b"s1", encode(started)), T0)
    await verifier_shell.on_message(Message(b"s1", encode(no_face("s1", 0)), "observations"), T0)
    restarted_ms = T0 + 60_000  # the worker was down for a minute
    verifier_shell.owning_from(restarted_ms)
    tick = Message(b"s1", encode(SessionTick("s1", restarted_ms + 5_000)), "ticks")
    await verifier_shell.on_message(tick, restarted_ms + 5_000)
    assert decisions.sent == []
    late = Message(b"s1", encode(SessionTick("s1", restarted_ms + IDLE_MS + 1)), "ticks")
    await verifier_shell.on_message(late, restarted_ms + IDLE_MS + 1)
    assert len(decisions.sent) == 1
