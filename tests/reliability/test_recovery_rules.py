"""The rules that keep one correct decision per session through crashes, restarts and backlogs (no broker).

Each was found by a scenario of ``liveness reliability`` (see docs/reliability.md):
silence is not judged while frames are known to be in flight or while no worker
owned the session, and a decision is emitted once, before its row says decided.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

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
    assert Session.from_row(table[b"s1"]).decided


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


# ---- batches: each row written once, after what the batch sent -----------------------------------


class CountingTable(dict):
    """A table that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def __setitem__(self, key: bytes, value: Any) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)


@dataclass
class Event:
    message: Message


def session_events(session_id: str, frames: int) -> list[Event]:
    started = ChallengeService(KEYS).start(T0, session_id=session_id)
    key = session_id.encode()
    events = [Event(Message(key, encode(started)))]
    events += [Event(Message(key, encode(no_face(session_id, s)), "observations")) for s in range(frames)]
    return events


def counting_shell(core: Verifier | None = None) -> tuple[VerifierShell, CountingTable, RecordingTopic]:
    table = CountingTable()
    decisions, others = RecordingTopic(table), RecordingTopic(table)
    core = core or Verifier(SETTINGS, KEYS)
    return VerifierShell(core, table, decisions, others, others, others), table, decisions


async def test_verifier_shell_batch_writes_each_row_once_after_its_decision() -> None:
    verifier_shell, table, decisions = counting_shell()
    expired = Event(expired_start())
    await verifier_shell.on_events([*session_events("s2", 2), expired, *session_events("s3", 2)], T0)
    assert sorted(table.writes) == [b"s1", b"s2", b"s3"]
    assert decisions.row_at_send == [None]  # EXPIRED for s1, sent before its row was written
    assert Session.from_row(table[b"s2"]).next_seq == 2


async def test_verifier_shell_batch_gives_the_rows_of_one_event_at_a_time() -> None:
    events = session_events("s2", 6)
    one_by_one, table_1, _ = counting_shell()
    for event in events:
        await one_by_one.on_message(event.message, T0)
    batched, table_n, _ = counting_shell()
    await batched.on_events(events, T0)
    assert Session.from_row(table_n[b"s2"]).to_dict() == Session.from_row(table_1[b"s2"]).to_dict()


class FailingOn(Verifier):
    """A core that raises on one observation, as a bug would."""

    def __init__(self, seq: int) -> None:
        super().__init__(SETTINGS, KEYS)
        self.seq = seq

    def on_observation(self, session: Session | None, obs: Observation, now_ms: int) -> Any:
        if obs.seq == self.seq:
            assert session is not None
            session.frames_ignored += 100  # changed in place before failing
            raise RuntimeError("bug")
        return super().on_observation(session, obs, now_ms)


async def test_verifier_shell_failed_event_in_batch_leaves_session_as_before_it() -> None:
    events = session_events("s2", 4)
    failing, table, _ = counting_shell(FailingOn(seq=2))
    await failing.on_events(events, T0)
    without, expected, _ = counting_shell()
    await without.on_events([e for e in events if e is not events[3]], T0)  # events[3] is seq 2
    assert Session.from_row(table[b"s2"]).to_dict() == Session.from_row(expected[b"s2"]).to_dict()
    assert len(failing.dead_letters.sent) == 1


class FailingDelivery(RecordingTopic):
    async def send(self, key: bytes, value: bytes) -> asyncio.Future[None]:
        self.sent.append((key, value))
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivery.set_exception(ConnectionError("broker gone"))
        return delivery


async def test_verifier_shell_failed_decision_send_leaves_row_as_before_batch() -> None:
    table = CountingTable()
    others = RecordingTopic(table)
    core = Verifier(SETTINGS, KEYS)
    verifier_shell = VerifierShell(core, table, FailingDelivery(table), others, others, others)
    await verifier_shell.on_events([Event(expired_start())], T0)
    assert table.writes == []  # the row does not say decided: the next event or tick decides again
    assert len(others.sent) == 1  # the start became a dead letter
