"""The gateway under hostile and heavy load (issue #16), on the real broker with real face frames.

One test per defect found from outside: pings that kept streams open, session
floods that evicted live sessions, one client taking every slot, clients
blamed for our publish stall, a capture-time bound the processors did not
share, log lines forged through the path, and a late token told 4404.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_gateway import GatewayUnderTest, _gateway, closed_with, frame_seqs, read_all

from devtools.broker import BrokerConfig, LocalBroker, free_ports
from devtools.gateway_load import face_jpegs
from liveness.topics_admin import ensure_topics
from producers.challenge_service import ChallengePolicy
from producers.gateway.protocol import encode_frame_message
from producers.gateway.server import PathAccessLogger, make_app
from producers.gateway.settings import GatewayLimits, GatewaySettings
from runtime.settings import KafkaSettings
from runtime.topics import TopicSpec, topic_specs
from schemas.codec import parse_frame_headers
from schemas.tokens import TokenKeys

pytestmark = pytest.mark.integration

WIDTH, HEIGHT = 320, 240
SIZE = {"image_width": WIDTH, "image_height": HEIGHT}


@pytest.fixture(scope="module")
def faces() -> list[bytes]:
    return face_jpegs(WIDTH, HEIGHT)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _pinging(ws: aiohttp.ClientWebSocketResponse, every_s: float) -> None:
    while not ws.closed:
        await ws.ping()
        await asyncio.sleep(every_s)


async def test_gateway_pings_do_not_keep_an_idle_stream_open(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, limits=GatewayLimits(idle_timeout_s=1.0)):
        ws = await gateway.connect(await gateway.create())
        pinger = asyncio.create_task(_pinging(ws, 0.3))
        opened = time.monotonic()
        assert await closed_with(ws) == (4408, "no message for 1 s")
        assert time.monotonic() - opened < 3
        pinger.cancel()


async def test_gateway_pings_do_not_extend_the_wait_for_a_decision_after_the_end(
    kafka_bootstrap: str, unique_prefix: str, faces: list[bytes]
) -> None:
    limits = GatewayLimits(end_wait_s=1.0)
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, limits=limits):
        ws = await gateway.connect(await gateway.create(SIZE))
        await ws.send_bytes(encode_frame_message(0, faces[0], _now_ms()))
        await ws.send_str('{"type": "end"}')
        pinger = asyncio.create_task(_pinging(ws, 0.3))
        ended = time.monotonic()
        code, reason = await closed_with(ws)
        assert code == 1000 and reason.startswith("ended; no decision within 1 s")
        assert time.monotonic() - ended < 3
        pinger.cancel()


async def _stream_one_frame(gateway: GatewayUnderTest, session: dict, jpeg: bytes) -> None:
    """The session's holder streams a frame and it reaches the topic (the session was not forgotten)."""
    ws = await gateway.connect(session)
    await ws.send_bytes(encode_frame_message(0, jpeg, _now_ms()))
    async with asyncio.timeout(30):
        while session["session_id"] not in {
            parse_frame_headers(r.headers).session_id
            for r in await read_all(gateway.kafka, gateway.kafka.topics.frames)
        }:
            assert not ws.closed, f"stream closed {ws.close_code}"
            await asyncio.sleep(0.1)
    await ws.close()


async def _sessions_on_frames_topic(gateway: GatewayUnderTest) -> set[str]:
    records = await read_all(gateway.kafka, gateway.kafka.topics.frames)
    return {parse_frame_headers(record.headers).session_id for record in records}


async def test_gateway_session_flood_is_throttled_429_and_evicts_no_live_session(
    kafka_bootstrap: str, unique_prefix: str, faces: list[bytes]
) -> None:
    """One address creating sessions as fast as it can: 429 with Retry-After; the earlier session lives."""
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, limits=GatewayLimits(max_sessions=20)):
        live = await gateway.create(SIZE)
        statuses = []
        for _ in range(40):
            response = await gateway.client.post("/sessions", json=SIZE)
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert (await response.json())["error"] == "RATE_LIMITED"
        assert statuses.count(201) == GatewayLimits().session_burst_per_address - 1
        assert statuses.count(429) == 40 - statuses.count(201)
        await _stream_one_frame(gateway, live, faces[0])


async def test_gateway_full_registry_refuses_new_sessions_503_and_keeps_the_live_ones(
    kafka_bootstrap: str, unique_prefix: str, faces: list[bytes]
) -> None:
    limits = GatewayLimits(max_sessions=5, sessions_per_address_per_s=100, session_burst_per_address=100)
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, limits=limits):
        live = [await gateway.create(SIZE) for _ in range(5)]
        response = await gateway.client.post("/sessions", json=SIZE)
        assert response.status == 503 and (await response.json())["error"] == "FULL"
        assert int(response.headers["Retry-After"]) >= 1
        await _stream_one_frame(gateway, live[0], faces[0])
        metrics = await (await gateway.client.get("/metrics")).text()
        assert 'liveness_gateway_sessions_refused_total{reason="registry_full"}' in metrics


async def test_gateway_one_address_cannot_take_every_stream_slot(
    kafka_bootstrap: str, unique_prefix: str, faces: list[bytes]
) -> None:
    """Streams opened from one address beyond its share are refused 4429; another client still gets a slot."""
    limits = GatewayLimits(max_streams=6, max_streams_per_address=3)
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, limits=limits):
        sessions = [await gateway.create(SIZE) for _ in range(7)]
        url = str(gateway.client.make_url("/"))
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(url, connector=connector) as attacker:
            streams = [await attacker.ws_connect(f"{s['stream']}?token={s['token']}") for s in sessions[:6]]
            closes = [await _close_within_a_moment(ws) for ws in streams]
            refused = [close for close in closes if close is not None]
            assert len(refused) == 3
            assert all(code == 4429 and "streams from your address" in reason for code, reason in refused)
            await _stream_one_frame(gateway, sessions[6], faces[0])


async def _close_within_a_moment(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str] | None:
    """The close a stream gets at once (a refusal), or ``None`` while it stays open."""
    try:
        message = await ws.receive(timeout=1.0)
    except TimeoutError:
        return None
    return message.data, str(message.extra or "")


@pytest.fixture
async def gateway(kafka_bootstrap: str, unique_prefix: str) -> AsyncIterator[GatewayUnderTest]:
    async for running in _gateway(kafka_bootstrap, unique_prefix, limits=GatewayLimits()):
        yield running


async def test_gateway_capture_time_bound_is_the_frame_headers_bound(
    gateway: GatewayUnderTest, faces: list[bytes]
) -> None:
    """A capture time the gateway accepts is one the processors read; one beyond it is refused 4400."""
    from schemas.limits import MAX_CAPTURED_AT_MS

    ws = await gateway.connect(await gateway.create(SIZE))
    await ws.send_bytes(encode_frame_message(0, faces[0], MAX_CAPTURED_AT_MS))
    await ws.send_bytes(encode_frame_message(1, faces[1], MAX_CAPTURED_AT_MS + 1))
    code, reason = await closed_with(ws)
    assert code == 4400 and reason.startswith("captured_at_ms must be")
    [record] = await read_all(gateway.kafka, gateway.kafka.topics.frames)
    assert parse_frame_headers(record.headers).captured_at_ms == MAX_CAPTURED_AT_MS


async def test_gateway_token_long_past_expiry_closes_4410_not_4404(
    kafka_bootstrap: str, unique_prefix: str
) -> None:
    """The session is forgotten once expired; its holder is still told it expired, from the token itself."""
    policy = ChallengePolicy(start_within_s=0.2)
    async for gateway in _gateway(kafka_bootstrap, unique_prefix, policy, GatewayLimits(max_stream_s=0.1)):
        session = await gateway.create()
        await asyncio.sleep(0.5)
        await gateway.create()  # the registry prunes what expired
        ws = await gateway.connect(session)
        assert await closed_with(ws) == (4410, "session expired: create a new one")


async def test_gateway_control_characters_from_the_path_are_escaped_in_every_log_line(
    kafka_bootstrap: str, unique_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=unique_prefix, partitions=2)
    specs = topic_specs(kafka, f"{unique_prefix}verifier")
    await ensure_topics(kafka_bootstrap, [TopicSpec(spec.name, 2) for spec in specs])
    app = make_app(kafka, TokenKeys(os.urandom(32)), settings=GatewaySettings(demo_mode=True))
    server = TestServer(app)
    await server.start_server(access_log_class=PathAccessLogger)  # as ``run_gateway`` serves it
    client = TestClient(server)
    await client.start_server()
    caplog.set_level(logging.INFO)
    try:
        async with asyncio.timeout(60):
            while (await client.get("/readyz")).status != 200:
                await asyncio.sleep(0.1)
        ws = await client.ws_connect("/sessions/x%0AFORGED%20admin%20logged%20in%0D%1b[2J/stream?token=t")
        code, _ = await closed_with(ws)
        assert code == 4404
        await asyncio.sleep(0.2)  # the access log line is written after the response
    finally:
        await client.close()
    lines = [(r.name, r.getMessage(), str(getattr(r, "session_id", ""))) for r in caplog.records]
    logged = [line for line in lines if "FORGED" in line[1] or "FORGED" in line[2]]
    assert {name for name, _, _ in logged} >= {"producers.gateway.server", "aiohttp.access"}
    for name, message, session_id in logged:
        for text in (message, session_id):
            assert not any(ch in text for ch in "\n\r\x1b"), (name, text)
        assert "\\nFORGED" in message, (name, message)


# ---- a broker of its own, to pause it -------------------------------------------------------------


@pytest.fixture(scope="module")
def pausable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    port, controller_port = free_ports(2)
    data_dir = Path(tmp_path_factory.mktemp("pausable-kafka"))
    broker = LocalBroker(BrokerConfig(data_dir=data_dir, port=port, controller_port=controller_port))
    broker.start(timeout_s=120)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def gateway_on_pausable_broker(
    pausable_broker: LocalBroker, unique_prefix: str
) -> AsyncIterator[GatewayUnderTest]:
    async for running in _gateway(pausable_broker.bootstrap, unique_prefix, limits=GatewayLimits()):
        yield running


async def test_gateway_broker_stall_never_blames_a_client_pacing_at_10_fps(
    gateway_on_pausable_broker: GatewayUnderTest, pausable_broker: LocalBroker, faces: list[bytes]
) -> None:
    """The broker stops for 2.5 s while a client streams at a steady 10 fps: no 4429, all frames published."""
    gateway, pid = gateway_on_pausable_broker, pausable_broker.pid
    assert pid is not None
    ws = await gateway.connect(await gateway.create(SIZE))
    closed = asyncio.create_task(_close_of(ws))  # reads feedback as a client does, notes the close
    start = time.monotonic()
    for seq in range(60):
        await asyncio.sleep(max(0.0, start + seq / 10 - time.monotonic()))
        if seq == 10:
            os.kill(pid, signal.SIGSTOP)
        if seq == 35:
            os.kill(pid, signal.SIGCONT)
        assert not closed.done(), f"closed at frame {seq}: {closed.result()}"
        await ws.send_bytes(encode_frame_message(seq, faces[seq % len(faces)], _now_ms()))
    await ws.send_str('{"type": "end"}')
    async with asyncio.timeout(60):
        while await frame_seqs(gateway.kafka) != list(range(60)):
            assert not closed.done(), closed.result()
            await asyncio.sleep(0.2)
    assert not closed.done(), closed.result()
    await ws.close()


async def _close_of(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    async for _ in ws:
        pass
    return ws.close_code, str(ws.exception() or "")
