"""Bad frames go to the dead-letter topic with their reason, and the processor keeps going."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest
from skimage import data

from devtools.stack import Stack
from producers.challenge_service import ChallengeService
from producers.publisher import SessionPublisher
from producers.sources import encode_jpeg
from schemas.clock import now_ms
from schemas.codec import decode_dead_letter, decode_observation
from schemas.events import FrameMeta, SessionEnded

pytestmark = pytest.mark.integration


def astronaut_jpeg() -> bytes:
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[40:440, 120:520] = cv2.resize(image[0:300, 80:380], (400, 400))
    return encode_jpeg(canvas)


async def publish(stack: Stack, payloads: list[bytes]) -> str:
    started = ChallengeService(stack.keys).start(now_ms())
    async with SessionPublisher(stack.kafka) as publisher:
        await publisher.start_session(started)
        for seq, payload in enumerate(payloads):
            delivery = await publisher.send_frame(FrameMeta(started.session_id, seq, now_ms()), payload)
            await delivery
        await publisher.end_session(SessionEnded(started.session_id, now_ms(), len(payloads) - 1))
    return started.session_id


def test_processor_bad_frames_dead_lettered_and_next_frames_processed(stack: Stack, read_topic) -> None:
    good = astronaut_jpeg()
    png = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))[1].tobytes()
    payloads = [good, b"definitely not a jpeg", good[: len(good) // 2], good, png, b"", good]
    session_id = asyncio.run(publish(stack, payloads))

    letters = [decode_dead_letter(r.value) for r in read_topic(stack.kafka.topics.dead_letters, 4, 90)]
    mine = [letter for letter in letters if letter.session_id == session_id]
    assert sorted(letter.source_offset for letter in mine) == sorted(
        {letter.source_offset for letter in mine}
    )
    assert [letter.reason for letter in mine] == ["CORRUPT_FRAME"] * 4
    assert all(letter.source_topic == stack.kafka.topics.frames and letter.detail for letter in mine)

    records = read_topic(stack.kafka.topics.observations, len(payloads), 90)
    observations = {
        o.seq: o for o in map(decode_observation, (r.value for r in records)) if o.session_id == session_id
    }
    assert sorted(observations) == list(range(len(payloads)))
    assert [seq for seq, o in sorted(observations.items()) if o.error] == [1, 2, 4, 5]
    assert all(len(observations[seq].faces) == 1 for seq in (0, 3, 6))
