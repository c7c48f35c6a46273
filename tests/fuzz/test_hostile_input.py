"""Hostile input through the real broker to real worker processes: dead letters, no crash, no stall.

Junk frames, junk events, frames for unknown and already-decided sessions are
published while a genuine session runs; then another genuine session follows.
Every junk record must end in the dead-letter topic with a reason (or be
counted and ignored, for a frame of a decided session), both genuine sessions
must get their undisturbed decision, and both workers must still be running.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hostile import Junk, bad_frame_headers, frame_headers_for, jpeg, junk_events, junk_frame_payloads

from devtools.media import fetch_media
from devtools.stack import Stack
from evaluation.species import SPECIES, Draw, Studio
from liveness.replay import replay_offline
from processors.landmarks import FaceAnalyzer
from producers.challenge_service import ChallengeService
from producers.decision_watcher import DecisionWatcher
from producers.publisher import SessionPublisher, publish_recording
from producers.recording import RecordedSession, write_session
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.codec import decode_dead_letter, encode
from schemas.events import DeadLetter, Decision, Observation, SessionEnded

pytestmark = pytest.mark.integration

# The verifier settles observations of a session that never started after its idle timeout (15 s).
ORPHAN_WAIT_S = 90.0


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prefix = f"h{secrets.token_hex(4)}."
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=4)
    with Stack(kafka=kafka, work_dir=Path(tmp_path_factory.mktemp("hostile"))) as running:
        yield running


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> tuple[RecordedSession, Decision]:
    """A genuine session from a real face, and its undisturbed decision."""
    with FaceAnalyzer() as analyzer:
        studio = Studio.open(fetch_media(), analyzer)
        draft = SPECIES["genuine"](studio, Draw(random.Random(14), np.random.default_rng(14), 3))
        path = write_session(tmp_path_factory.mktemp("genuine") / "g", "g", draft.challenge, 0, draft.frames)
        recording = RecordedSession.load(path)
        return recording, replay_offline(recording, analyzer)


class Sent:
    """Where every junk record landed, so its dead letter can be found by source topic and offset."""

    def __init__(self) -> None:
        self.by_source: dict[tuple[str, int, int], Junk] = {}
        self.by_session: dict[str, Junk] = {}  # junk that is settled per session (orphans)


async def publish_junk(
    producer: AIOKafkaProducer, topic: str, junk: list[Junk], sent: Sent, tried: Counter
) -> None:
    for item in junk:
        meta = await (await producer.send(topic, item.value, key=item.key, headers=item.headers or None))
        sent.by_source[(topic, meta.partition, meta.offset)] = item
        tried[f"{topic.split('.', 1)[1]}:{item.kind.split('.')[0]}"] += 1


def frame_junk(session_id: str) -> list[Junk]:
    """Unanalysable frames of a started session, and good frames with unreadable headers."""
    key = session_id.encode()
    out = [
        Junk(kind, value, reason, frame_headers_for(session_id, seq, now_ms()), key)
        for seq, (kind, value, reason) in enumerate(junk_frame_payloads())
    ]
    good = jpeg()
    out += [
        Junk(f"headers-{kind}", good, "BAD_EVENT", headers, key)
        for kind, headers in bad_frame_headers(session_id)
    ]
    return out


async def read_dead_letters(
    kafka: KafkaSettings, done: Callable[[list[DeadLetter]], bool], timeout_s: float
) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        kafka.topics.dead_letters,
        **kafka.client_options(),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + timeout_s
        while not done(letters) and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                letters.extend(decode_dead_letter(record.value) for record in batch)
    finally:
        await consumer.stop()
    return letters


def unresolved(sent: Sent, letters: list[DeadLetter]) -> list[str]:
    """Junk records without their dead letter (or with the wrong reason)."""
    by_source = {(d.source_topic, d.source_partition, d.source_offset): d for d in letters}
    orphans = {d.session_id for d in letters if d.reason == "UNKNOWN_SESSION"}
    missing = []
    for source, item in sent.by_source.items():
        letter = by_source.get(source)
        if item.reason == "*":
            if letter is None and item.key is not None and item.key.decode() not in orphans:
                missing.append(f"{item.kind}: no dead letter")
        elif item.reason.endswith("?") and (letter is None or letter.reason == item.reason[:-1]):
            continue
        elif letter is None or letter.reason != item.reason:
            missing.append(
                f"{item.kind}: {letter.reason if letter else 'no dead letter'}, want {item.reason}"
            )
    missing += [f"{sid}: not settled as unknown" for sid in sent.by_session if sid not in orphans]
    return missing


async def scenario(stack: Stack, recording: RecordedSession, tried: Counter) -> dict[str, Any]:
    kafka, topics = stack.kafka, stack.kafka.topics
    service = ChallengeService(stack.keys)
    sent = Sent()
    producer = AIOKafkaProducer(**kafka.client_options(), max_request_size=4 * 1024 * 1024, acks="all")
    await producer.start()
    try:
        async with DecisionWatcher(kafka) as watcher, SessionPublisher(kafka) as publisher:
            bystander = asyncio.create_task(
                publish_recording(
                    publisher, recording, service, session_id=f"bystander-{secrets.token_hex(3)}"
                )
            )
            junk_session = service.start(now_ms())
            await publisher.start_session(junk_session)
            await publish_junk(producer, topics.frames, frame_junk(junk_session.session_id), sent, tried)

            observation = Observation("x", 0, now_ms(), now_ms(), 640, 480, ())
            start = orjson.loads(encode(service.start(now_ms(), session_id=f"never-{secrets.token_hex(3)}")))
            events = junk_events(start, orjson.loads(encode(observation)))
            await publish_junk(
                producer, topics.sessions, [e for e in events if "observation" not in e.kind], sent, tried
            )
            await publish_junk(
                producer, topics.observations, [e for e in events if "observation" in e.kind], sent, tried
            )

            # A good frame of a session that never started, and an end of one: settled as unknown.
            for sid in (f"unknown-frame-{secrets.token_hex(3)}", f"unknown-end-{secrets.token_hex(3)}"):
                sent.by_session[sid] = Junk("unknown-session", None, "UNKNOWN_SESSION")
                if sid.startswith("unknown-frame"):
                    await publisher.send_frame(frame_meta(sid), jpeg())
                else:
                    await publisher.end_session(SessionEnded(sid, now_ms(), 3))
                tried["unknown-session"] += 1

            # An expired start is decided at once; a frame after it is counted and ignored.
            expired = service.start(now_ms() - 10 * 60 * 1000)
            await publisher.start_session(expired)
            await watcher.wait_for({expired.session_id}, 120)
            await (await publisher.send_frame(frame_meta(expired.session_id), jpeg()))
            tried["frame-after-decision"] += 1

            await bystander
            after = await publish_recording(
                publisher, recording, service, session_id=f"after-{secrets.token_hex(3)}"
            )
            ids = {bystander.result().session_id, after.session_id, junk_session.session_id}
            decided = await watcher.wait_for(ids, 180)
            letters = await read_dead_letters(kafka, lambda got: not unresolved(sent, got), ORPHAN_WAIT_S)
            await asyncio.sleep(5)
            await watcher.poll(1.0)
            return {
                "bystander": decided[bystander.result().session_id],
                "after": decided[after.session_id],
                "expired": watcher.seen[expired.session_id],
                "seen": watcher.seen,
                "unresolved": unresolved(sent, letters),
                "letters": letters,
            }
    finally:
        await producer.stop()


def frame_meta(session_id: str) -> Any:
    from schemas.events import FrameMeta

    return FrameMeta(session_id, 0, now_ms())


@pytest.fixture(scope="module")
def outcome(stack: Stack, genuine: tuple[RecordedSession, Decision], tried: Counter) -> dict[str, Any]:
    return asyncio.run(scenario(stack, genuine[0], tried))


def test_hostile_input_every_junk_record_dead_lettered_with_its_reason(outcome: dict[str, Any]) -> None:
    assert outcome["unresolved"] == []


def test_hostile_input_no_internal_errors(outcome: dict[str, Any]) -> None:
    internal = [d for d in outcome["letters"] if d.reason == "INTERNAL_ERROR"]
    assert internal == []


def test_hostile_input_genuine_sessions_keep_undisturbed_decision(
    outcome: dict[str, Any], genuine: tuple[RecordedSession, Decision]
) -> None:
    expected = (genuine[1].outcome, genuine[1].reason)
    assert (outcome["bystander"].outcome, outcome["bystander"].reason) == expected
    assert (outcome["after"].outcome, outcome["after"].reason) == expected


def test_hostile_input_every_session_decided_at_most_once(outcome: dict[str, Any]) -> None:
    assert {sid: len(d) for sid, d in outcome["seen"].items() if len(d) > 1} == {}
    assert [d.reason for d in outcome["expired"]] == ["EXPIRED"]


def test_hostile_input_workers_still_running(outcome: dict[str, Any], stack: Stack) -> None:
    dead = [f"{w.role}:\n{w.log_tail()}" for w in stack.workers if not w.alive()]
    assert dead == []
