"""The identity stage answers the request a decision waits for before a queue of others, in a lane
that runs at the worker's priority while the others give way."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from skimage import data

from benchmarks.hops import processor_children
from devtools.stack import Stack
from processors.agent import BACKGROUND_NICENESS
from producers.publisher import SessionPublisher
from producers.sources import encode_jpeg
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.codec import decode_verifier_input, encode
from schemas.events import FrameMeta, IdentityRequest, IdentitySample, Observation

pytestmark = pytest.mark.integration

QUEUED = 12  # requests nothing waits for, sent ahead of the awaited one


@pytest.fixture(scope="module")
def processor_only(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One processor and no verifier: the test plays the verifier's part on the identity topics."""
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"t{secrets.token_hex(4)}.", partitions=4)
    work_dir = Path(tmp_path_factory.mktemp("identity-order"))
    with Stack(kafka=kafka, work_dir=work_dir, processors=1, verifiers=0) as running:
        yield running
        assert running.workers[0].alive(), running.workers[0].log_tail()


def face_jpeg() -> bytes:
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[40:440, 120:520] = cv2.resize(image[0:300, 80:380], (400, 400))
    return encode_jpeg(canvas)


async def publish_frame(kafka: KafkaSettings, session_id: str) -> None:
    async with SessionPublisher(kafka) as publisher:
        await (await publisher.send_frame(FrameMeta(session_id, 0, now_ms()), face_jpeg()))


async def request_all(kafka: KafkaSettings, requests: list[IdentityRequest]) -> None:
    """Every request in one batch, so the stage has them all before it answers the second."""
    producer = AIOKafkaProducer(**kafka.client_options(), linger_ms=200)
    await producer.start()
    try:
        sent = [
            await producer.send(kafka.topics.identity_requests, encode(r), key=r.session_id.encode())
            for r in requests
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def read_session(kafka: KafkaSettings, session_id: str, at_least: int, timeout_s: float = 90) -> list:
    """The session's records on the observations topic, in their order, once ``at_least`` are in."""
    consumer = AIOKafkaConsumer(
        kafka.topics.observations, **kafka.client_options(), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < at_least:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records += [r for r in batch if r.key == session_id.encode()]
    except TimeoutError:
        pass  # the assertions say what is missing
    finally:
        await consumer.stop()
    return records


def session_events(kafka: KafkaSettings, session_id: str, at_least: int) -> list:
    return [decode_verifier_input(r.value) for r in asyncio.run(read_session(kafka, session_id, at_least))]


def test_awaited_request_is_answered_ahead_of_the_queue(processor_only: Stack) -> None:
    kafka = processor_only.kafka
    session_id = f"order-{secrets.token_hex(4)}"
    asyncio.run(publish_frame(kafka, session_id))
    (observed,) = session_events(kafka, session_id, 1)
    assert isinstance(observed, Observation) and len(observed.faces) == 1
    offset = observed.frame_offset
    queued = [IdentityRequest(session_id, seq, offset, now_ms()) for seq in range(1, QUEUED + 1)]
    awaited = IdentityRequest(session_id, 99, offset, now_ms(), awaited=True)

    asyncio.run(request_all(kafka, [*queued, awaited]))

    events = session_events(kafka, session_id, 2 + QUEUED)
    samples = [event for event in events if isinstance(event, IdentitySample)]
    answered = [s.seq for s in samples]
    assert sorted(answered) == [*range(1, QUEUED + 1), 99]  # every request answered once
    assert all(s.error is None and s.embedding for s in samples)
    # First in line, or second when the first queued one was taken before the rest were read;
    # in arrival order it would come last.
    assert answered.index(99) <= 1
    assert [seq for seq in answered if seq != 99] == list(range(1, QUEUED + 1))


def nice_of(pid: int, tid: int | None = None) -> int:
    """The nice value of a process, or of one of its threads (field 19 of its stat line)."""
    path = Path(f"/proc/{pid}/task/{tid}/stat") if tid else Path(f"/proc/{pid}/stat")
    return int(path.read_text().rsplit(")", 1)[1].split()[16])


def test_the_background_lane_runs_below_the_worker_and_the_awaited_lane_at_its_priority(
    processor_only: Stack,
) -> None:
    pid = processor_only.workers[0].pid
    worker = nice_of(pid)
    threads = [nice_of(pid, int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]
    children = processor_children(pid)
    networks = [nice_of(child) for name, child in children.items() if name.startswith("network")]

    # The background lane's and the evidence stage's threads, and the threads their FaceMesh
    # started; the rest as the worker.
    assert set(threads) == {worker, worker + BACKGROUND_NICENESS}
    assert threads.count(worker) > threads.count(worker + BACKGROUND_NICENESS)
    assert sorted(networks) == [worker, worker + BACKGROUND_NICENESS]
