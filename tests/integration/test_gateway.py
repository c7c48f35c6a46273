"""The browser gateway against the real broker: refusals close the stream and never reach the frames topic."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from liveness.topics_admin import ensure_topics
from producers.challenge_service import ChallengePolicy
from producers.gateway.attempts import AttemptPolicy
from producers.gateway.protocol import encode_frame_message
from producers.gateway.server import make_app
from producers.gateway.settings import GatewayLimits, GatewaySettings
from runtime.settings import KafkaSettings
from runtime.topics import TopicSpec, topic_specs
from schemas.codec import decode_session_event, encode, parse_frame_headers
from schemas.events import (
    LANDMARK_SUBSET,
    Box,
    Check,
    Decision,
    Face,
    Observation,
    SessionEnded,
    SessionStarted,
)
from schemas.tokens import TokenKeys

pytestmark = pytest.mark.integration

_TEST_TIMEOUT_S = 60
LIMITS = GatewayLimits(max_frame_bytes=64 * 1024, burst_frames=5, max_fps=15.0)
UNLIMITED_ATTEMPTS = AttemptPolicy(max_failed_per_user=10_000, max_failed_per_address=10_000)


def jpeg_of(width: int = 640, height: int = 480, seed: int = 0) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 8)  # smooth noise: a realistic JPEG size (~20 KB)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return data.tobytes()


@dataclass
class GatewayUnderTest:
    client: TestClient
    kafka: KafkaSettings
    keys: TokenKeys

    async def create(self, body: object | None = None) -> dict:
        response = await self.client.post("/sessions", json=body)
        assert response.status == 201, await response.text()
        return await response.json()

    async def connect(self, session: dict, token: str | None = None) -> ClientWebSocketResponse:
        token = session["token"] if token is None else token
        return await self.client.ws_connect(f"{session['stream']}?token={token}")


async def _gateway(
    kafka_bootstrap: str, prefix: str, policy: ChallengePolicy | None = None, limits: GatewayLimits = LIMITS
) -> AsyncIterator[GatewayUnderTest]:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=2)
    specs = topic_specs(kafka, f"{prefix}verifier")
    await ensure_topics(kafka_bootstrap, [TopicSpec(spec.name, kafka.partitions) for spec in specs])
    keys = TokenKeys(secrets.token_bytes(32))
    # The page creates its own sessions (demo mode); attempt limits have tests of their own.
    settings = GatewaySettings(limits=limits, demo_mode=True, attempts=UNLIMITED_ATTEMPTS)
    app = make_app(kafka, keys, policy, settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        async with asyncio.timeout(_TEST_TIMEOUT_S):
            while (await client.get("/readyz")).status != 200:
                await asyncio.sleep(0.1)
        yield GatewayUnderTest(client, kafka, keys)
    finally:
        await client.close()


@pytest.fixture
async def gateway(kafka_bootstrap: str, unique_prefix: str) -> AsyncIterator[GatewayUnderTest]:
    async for running in _gateway(kafka_bootstrap, unique_prefix):
        yield running


async def read_all(kafka: KafkaSettings, topic: str) -> list:
    """Every record of ``topic`` up to its current end."""
    consumer = AIOKafkaConsumer(
        topic, **kafka.client_options(), group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        async with asyncio.timeout(_TEST_TIMEOUT_S):
            while not consumer.assignment():
                await asyncio.sleep(0.05)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            records: list = []
            while not await _at(consumer, ends):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
            return records
    finally:
        await consumer.stop()


async def _at(consumer: AIOKafkaConsumer, ends: dict) -> bool:
    return all([await consumer.position(tp) >= end for tp, end in ends.items()])


async def frame_seqs(kafka: KafkaSettings) -> list[int]:
    return sorted(
        parse_frame_headers(record.headers).seq for record in await read_all(kafka, kafka.topics.frames)
    )


async def closed_with(ws: ClientWebSocketResponse) -> tuple[int | None, str]:
    """The close code and reason the server sent, skipping any feedback before it."""
    async with asyncio.timeout(10):
        while True:
            message = await ws.receive()
            if message.type == WSMsgType.CLOSE:
                return message.data, str(message.extra or "")
            if message.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                return ws.close_code, str(message.extra or "")


async def test_gateway_bad_token_closes_4401_and_publishes_no_frame(gateway: GatewayUnderTest) -> None:
    session, other = await gateway.create(), await gateway.create()
    ws = await gateway.connect(session, token=other["token"])
    await ws.send_bytes(encode_frame_message(0, jpeg_of()))
    code, reason = await closed_with(ws)
    assert (code, reason) == (4401, "bad token: token is for another session")
    assert await frame_seqs(gateway.kafka) == []


async def test_gateway_expired_session_closes_4410_and_publishes_no_frame(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, ChallengePolicy(start_within_s=0.2)):
        session = await gateway.create()
        await asyncio.sleep(0.4)
        ws = await gateway.connect(session)
        await ws.send_bytes(encode_frame_message(0, jpeg_of()))
        assert await closed_with(ws) == (4410, "session expired: create a new one")
        assert await frame_seqs(gateway.kafka) == []


async def test_gateway_oversized_frame_closes_4413_and_publishes_no_frame(gateway: GatewayUnderTest) -> None:
    ws = await gateway.connect(await gateway.create())
    jpeg = jpeg_of()
    padded = jpeg[:-2] + b"\0" * LIMITS.max_frame_bytes + jpeg[-2:]  # a valid JPEG, just too big
    await ws.send_bytes(encode_frame_message(0, padded))
    code, reason = await closed_with(ws)
    assert code == 4413 and reason.endswith(f"is over the frame limit of {LIMITS.max_frame_bytes} bytes")
    assert await frame_seqs(gateway.kafka) == []


async def test_gateway_non_jpeg_frame_closes_4415_and_publishes_no_frame(gateway: GatewayUnderTest) -> None:
    ws = await gateway.connect(await gateway.create())
    ok, png = cv2.imencode(".png", np.zeros((480, 640, 3), np.uint8))
    await ws.send_bytes(encode_frame_message(0, png.tobytes()))
    assert await closed_with(ws) == (4415, "not a JPEG frame: not a JPEG: missing start-of-image marker")
    assert await frame_seqs(gateway.kafka) == []


async def test_gateway_flood_closes_4429_and_publishes_only_the_burst(gateway: GatewayUnderTest) -> None:
    """Frames sent as fast as possible: the burst allowance passes, the first frame beyond it ends the stream.

    Only the frames within the allowance (seq 0..4) reach the topic; no refused frame does.
    """
    ws = await gateway.connect(await gateway.create())
    jpeg = jpeg_of()
    for seq in range(40):
        await ws.send_bytes(encode_frame_message(seq, jpeg, int(time.time() * 1000)))
    assert await closed_with(ws) == (4429, "frames faster than 15 fps")
    assert await frame_seqs(gateway.kafka) == list(range(LIMITS.burst_frames))


async def test_gateway_wrong_frame_size_closes_4422(gateway: GatewayUnderTest) -> None:
    ws = await gateway.connect(await gateway.create({"image_width": 640, "image_height": 480}))
    await ws.send_bytes(encode_frame_message(0, jpeg_of(320, 240)))
    assert await closed_with(ws) == (4422, "frame is 320x240, the challenge is 640x480")
    assert await frame_seqs(gateway.kafka) == []


async def test_gateway_frame_after_end_closes_4400(gateway: GatewayUnderTest) -> None:
    ws = await gateway.connect(await gateway.create())
    await ws.send_bytes(encode_frame_message(0, jpeg_of()))
    await ws.send_str('{"type": "end"}')
    await ws.send_bytes(encode_frame_message(1, jpeg_of()))
    assert await closed_with(ws) == (4400, "frame after the end of the stream")
    assert await frame_seqs(gateway.kafka) == [0]


async def test_gateway_idle_stream_closes_4408(kafka_bootstrap: str, unique_prefix: str) -> None:
    limits = GatewayLimits(idle_timeout_s=0.5)
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, limits=limits):
        ws = await gateway.connect(await gateway.create())
        assert await closed_with(ws) == (4408, "no message for 0.5 s")


async def test_gateway_second_stream_of_a_session_closes_4409(gateway: GatewayUnderTest) -> None:
    session = await gateway.create()
    first = await gateway.connect(session)
    second = await gateway.connect(session)
    assert await closed_with(second) == (4409, "this session was already streamed: create a new one")
    await first.close()


async def test_gateway_unknown_session_closes_4404(gateway: GatewayUnderTest) -> None:
    session = await gateway.create()
    ws = await gateway.client.ws_connect(f"/sessions/{'0' * 32}/stream?token={session['token']}")
    code, reason = await closed_with(ws)
    assert code == 4404 and "not created by this gateway" in reason


async def test_gateway_create_session_refuses_client_picked_challenge(gateway: GatewayUnderTest) -> None:
    for body in (
        {"type": "turn"},
        {"image_width": 640, "image_height": 480, "nose": {}},
        {"image_width": 64},
    ):
        response = await gateway.client.post("/sessions", json=body)
        assert response.status == 400, body
        assert (await response.json())["error"] == "BAD_MESSAGE"
    too_big = await gateway.client.post("/sessions", data=b"{" + b" " * 10_000 + b"}")
    assert too_big.status == 413


async def test_gateway_create_session_publishes_signed_start_for_camera_size(
    gateway: GatewayUnderTest,
) -> None:
    session = await gateway.create({"image_width": 480, "image_height": 640})
    challenge = session["challenge"]
    assert (challenge["type"], challenge["image_width"], challenge["image_height"]) == (
        "nose_sequence",
        480,
        640,
    )
    assert len(challenge["targets"]) == 3 and all(t["left"] + t["width"] <= 480 for t in challenge["targets"])
    [record] = await read_all(gateway.kafka, gateway.kafka.topics.sessions)
    started = decode_session_event(record.value)
    assert isinstance(started, SessionStarted)
    assert (started.session_id, started.token) == (session["session_id"], session["token"])
    assert started.challenge.to_dict() == challenge
    assert record.key == session["session_id"].encode()


async def test_gateway_stream_publishes_frames_end_and_relays_feedback_and_decision(
    gateway: GatewayUnderTest,
) -> None:
    """A well-behaved client, with the test standing in for the processor and the verifier."""
    session = await gateway.create()
    sid = session["session_id"]
    ws = await gateway.connect(session)
    for seq in range(3):
        await ws.send_bytes(encode_frame_message(seq, jpeg_of(seed=seq), int(time.time() * 1000)))
        await asyncio.sleep(0.1)
    await ws.send_str('{"type": "end"}')
    assert (await (await gateway.client.get(f"/sessions/{sid}")).json()) == {"status": "pending"}

    async with asyncio.timeout(_TEST_TIMEOUT_S):
        while len(await read_all(gateway.kafka, gateway.kafka.topics.sessions)) < 2:
            await asyncio.sleep(0.1)
    assert await frame_seqs(gateway.kafka) == [0, 1, 2]
    ended = decode_session_event((await read_all(gateway.kafka, gateway.kafka.topics.sessions))[-1].value)
    assert isinstance(ended, SessionEnded) and ended.last_seq == 2

    await _publish(gateway.kafka, gateway.kafka.topics.observations, sid, _observation(sid))
    feedback = await ws.receive_json(timeout=10)
    assert feedback["type"] == "observation" and feedback["seq"] == 2 and feedback["faces"] == 1
    assert feedback["hint"] in {"nose_to_target", "hold_still"} and feedback["in_area"] is True

    decision = Decision(sid, "fail", "TIMEOUT", "nose", (Check("nose_reached", 0.0, 1.0, False),), 3, 0, 1, 2)
    await _publish(gateway.kafka, gateway.kafka.topics.decisions, sid, decision)
    assert await ws.receive_json(timeout=10) == {"type": "decision", "decision": decision.to_dict()}
    assert await closed_with(ws) == (1000, "decided")
    poll = await (await gateway.client.get(f"/sessions/{sid}")).json()
    assert poll == {"status": "decided", "decision": decision.to_dict()}


async def test_gateway_health_and_static_client_are_served(gateway: GatewayUnderTest) -> None:
    assert (await (await gateway.client.get("/healthz")).json()) == {"status": "ok"}
    assert (await (await gateway.client.get("/readyz")).json()) == {"status": "ready"}
    page = await gateway.client.get("/")
    assert page.status == 200 and "Content-Security-Policy" in page.headers
    assert '<script type="module" src="/static/app.js">' in await page.text()
    script = await gateway.client.get("/static/app.js")
    assert script.status == 200 and "javascript" in script.headers["Content-Type"]


def _observation(session_id: str) -> Observation:
    # A face framed in the 640x480 area box (185, 60, 270, 360), nose at the image centre.
    face = Face(
        Box(230, 120, 180, 220), (320.0, 240.0), 0.0, 0.0, 0.0, tuple([0.0] * 3 * len(LANDMARK_SUBSET))
    )
    return Observation(session_id, 2, 1, 1, 640, 480, (face,))


async def _publish(kafka: KafkaSettings, topic: str, key: str, event: Observation | Decision) -> None:
    producer = AIOKafkaProducer(**kafka.client_options())
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode(event), key=key.encode())
    finally:
        await producer.stop()


async def _metric(gateway: GatewayUnderTest, name: str) -> float:
    text = await (await gateway.client.get("/metrics")).text()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


async def test_gateway_metrics_count_sessions_and_published_frames(gateway: GatewayUnderTest) -> None:
    sessions_before = await _metric(gateway, "liveness_gateway_sessions_started_total")
    published_before = await _metric(gateway, 'liveness_gateway_frames_total{result="published"}')
    ws = await gateway.connect(await gateway.create())
    await ws.send_bytes(encode_frame_message(0, jpeg_of(), int(time.time() * 1000)))
    async with asyncio.timeout(_TEST_TIMEOUT_S):
        while await frame_seqs(gateway.kafka) != [0]:
            await asyncio.sleep(0.1)
    await ws.close()

    assert await _metric(gateway, "liveness_gateway_sessions_started_total") == sessions_before + 1
    assert await _metric(gateway, 'liveness_gateway_frames_total{result="published"}') == published_before + 1
