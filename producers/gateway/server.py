"""The aiohttp shell of the gateway: create sessions, stream frames, push feedback, answer polls.

Routes::

    POST /sessions                      draw a challenge, publish the session start, hand out the token
    GET  /sessions/{id}/stream?token=   WebSocket: frames in, observations and the decision out
    GET  /sessions/{id}                 the decision, or {"status": "pending"}
    GET  /healthz, /readyz              liveness of the process, readiness of its Kafka clients
    GET  /                              the web client (static files under /static/)

Every check lives in the plain modules beside this one; this module reads
requests, calls them, publishes through ``SessionPublisher`` and writes replies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from aiokafka.errors import KafkaError

from liveness import logs, metrics
from liveness.config import KafkaSettings
from producers.challenge_service import ChallengePolicy, ChallengeService
from producers.gateway.errors import GatewayBusy, IdleStream, Refusal, Unavailable
from producers.gateway.feedback import FeedbackTracker, decision_message, poll_response
from producers.gateway.feeds import Event, KafkaFeeds
from producers.gateway.frames import FrameGate
from producers.gateway.protocol import (
    max_message_bytes,
    parse_control_message,
    parse_frame_message,
    parse_session_request,
)
from producers.gateway.registry import DecisionCache, GatewaySession, SessionRegistry, admit_stream
from producers.gateway.settings import GatewayLimits, GatewaySettings
from producers.publisher import SessionPublisher, now_ms
from schemas.events import Challenge, Decision, SessionEnded
from schemas.tokens import TokenKeys

log = logging.getLogger(__name__)

# Server-side only: draws the challenge for a frame size. Tests inject a recording's
# challenge through it; no request parameter can reach it.
ChallengeSource = Callable[[int, int], Challenge]

CONNECT_RETRY_S = 2.0
DECISION_WAIT_S = 30.0  # after the client's end: the verifier decides within seconds
HEARTBEAT_S = 20.0
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=()",
}
# The <liveness-check> component and its modules are loaded by platforms' pages on other origins
# (module scripts need CORS); they are public files, so any origin may load them.
STATIC_CORS_HEADERS = {"Access-Control-Allow-Origin": "*"}


def _monotonic_ms() -> float:
    return time.monotonic() * 1000


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda value: orjson.dumps(value).decode())


class Gateway:
    """One gateway process: its Kafka clients, the sessions it created and its open streams."""

    def __init__(
        self,
        kafka: KafkaSettings,
        keys: TokenKeys,
        policy: ChallengePolicy,
        settings: GatewaySettings,
        challenge_source: ChallengeSource | None = None,
    ) -> None:
        self.kafka, self.keys, self.policy, self.settings = kafka, keys, policy, settings
        self.service = ChallengeService(keys, policy)
        self.limits = settings.limits
        self.challenge_source = challenge_source or self.service.draw
        self.cache = DecisionCache(settings.decision_cache_size)
        keep_ms = int(self.limits.max_stream_s * 1000)
        self.registry = SessionRegistry(self.limits.max_sessions, keep_after_expiry_ms=keep_ms)
        self.publisher: SessionPublisher | None = None
        self.feeds: KafkaFeeds | None = None
        self.streams = 0

    @property
    def ready(self) -> bool:
        return self.publisher is not None and self.feeds is not None and self.feeds.started

    # ---- Kafka lifecycle ----------------------------------------------------------------

    async def kafka_context(self, app: web.Application) -> AsyncIterator[None]:
        """Connect in the background, so /healthz answers while Kafka is still out of reach."""
        task = asyncio.create_task(self._keep_connected())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _keep_connected(self) -> None:
        while True:
            publisher = SessionPublisher(self.kafka)
            feeds = KafkaFeeds(self.kafka, self.cache, self.settings.decision_lookback_s)
            try:
                await publisher.start()
                await feeds.start()
                self.publisher, self.feeds = publisher, feeds
                log.info("gateway connected to Kafka at %s", self.kafka.bootstrap)
                await feeds.run()
            except Exception:  # any Kafka failure: not ready, reconnect with fresh clients
                log.exception("gateway lost Kafka; reconnecting in %.0f s", CONNECT_RETRY_S)
            finally:
                self.publisher = self.feeds = None
                await asyncio.gather(feeds.stop(), publisher.stop(), return_exceptions=True)
            await asyncio.sleep(CONNECT_RETRY_S)

    # ---- HTTP ---------------------------------------------------------------------------

    async def create_session(self, request: web.Request) -> web.Response:
        publisher = self.publisher
        if publisher is None or not self.ready:
            return _json({"error": "NOT_READY", "detail": "not connected to Kafka yet"}, 503)
        try:
            size = parse_session_request(await request.read(), self.limits)
        except Refusal as exc:
            return _json({"error": exc.reason_code, "detail": str(exc)}, 400)
        width = size.width if size else self.policy.image_width
        height = size.height if size else self.policy.image_height
        started = self.service.start(now_ms(), challenge=self.challenge_source(width, height))
        try:
            await publisher.start_session(started)
        except KafkaError as exc:  # the session does not exist until the verifier can know it
            log.warning("could not publish session start: %r", exc)
            return _json({"error": "UNAVAILABLE", "detail": "could not publish the session start"}, 503)
        self.registry.add(started, now_ms())
        metrics.gateway_session_started()
        body = {
            "session_id": started.session_id,
            "challenge": started.challenge.to_dict(),
            "token": started.token,
            "issued_at_ms": started.issued_at_ms,
            "expires_at_ms": started.expires_at_ms,
            "stream": f"/sessions/{started.session_id}/stream",
            "limits": self.limits.public(),
        }
        return _json(body, 201)

    async def poll(self, request: web.Request) -> web.Response:
        return _json(poll_response(self.cache.get(request.match_info["session_id"])))

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        body, content_type = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if self.ready:
            return _json({"status": "ready"})
        return _json({"status": "starting"}, 503)

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self.settings.static_dir / "index.html")

    # ---- the stream ---------------------------------------------------------------------

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        logs.bind_session(request.match_info["session_id"])  # this handler's task logs with the session id
        # Twice the largest valid message: anything up to that gets our own clear refusal,
        # anything beyond is cut by aiohttp itself (close code 1009).
        ws = web.WebSocketResponse(max_msg_size=2 * max_message_bytes(self.limits), heartbeat=HEARTBEAT_S)
        await ws.prepare(request)
        try:
            session = self._admit(request)
        except Refusal as exc:
            await _refuse(ws, exc)
            return ws
        self.streams += 1
        metrics.gateway_connection_opened()
        try:
            await self._serve(ws, session)
        finally:
            self.streams -= 1
            metrics.gateway_connection_closed()
        return ws

    def _admit(self, request: web.Request) -> GatewaySession:
        if self.streams >= self.limits.max_streams:
            raise GatewayBusy(f"this gateway serves {self.limits.max_streams} streams already; retry later")
        if not self.ready:
            raise GatewayBusy("not connected to Kafka yet; retry later")
        token = request.query.get("token", "")
        return admit_stream(self.registry, self.keys, request.match_info["session_id"], token, now_ms())

    async def _serve(self, ws: web.WebSocketResponse, session: GatewaySession) -> None:
        started, feeds, publisher = session.started, self.feeds, self.publisher
        assert feeds is not None and publisher is not None
        stream = FrameStream(
            ws, FrameGate(started.session_id, started.challenge, self.limits, _monotonic_ms())
        )
        pusher = asyncio.create_task(_push(ws, feeds.subscribe(started.session_id), started.challenge))
        try:
            await stream.receive(publisher, self.limits)
        except Refusal as exc:
            # The frames admitted before the refusal reach the broker before the client hears
            # the close, so what the client was told was accepted is durable by then.
            await asyncio.gather(*stream.in_flight, return_exceptions=True)
            await _refuse(ws, exc)
        finally:
            feeds.unsubscribe(started.session_id)
            pusher.cancel()
            await asyncio.gather(pusher, return_exceptions=True)
            await stream.end_quietly(publisher)
        if not ws.closed:
            detail = f"ended; no decision within {DECISION_WAIT_S:g} s: poll GET /sessions/{{id}}"
            await ws.close(code=1000, message=detail.encode())


class FrameStream:
    """One open stream: its frame gate, the frames still in flight, and whether its end is published."""

    def __init__(self, ws: web.WebSocketResponse, gate: FrameGate) -> None:
        self.ws, self.gate = ws, gate
        self.in_flight: list[asyncio.Future[object]] = []
        self.end_published = False

    async def receive(self, publisher: SessionPublisher, limits: GatewayLimits) -> None:
        """Read messages until the socket closes; raise a ``Refusal`` at the first bad one."""
        while True:
            timeout_s = DECISION_WAIT_S if self.gate.ended else limits.idle_timeout_s
            try:
                message = await self.ws.receive(timeout=timeout_s)
            except TimeoutError:
                if self.gate.ended:
                    return
                raise IdleStream(f"no message for {timeout_s:g} s") from None
            if message.type == WSMsgType.BINARY:
                try:
                    frame = parse_frame_message(message.data, limits)
                    meta = self.gate.admit(frame, _monotonic_ms(), now_ms())
                except Refusal:
                    metrics.gateway_frame("rejected")
                    raise
                self.in_flight.append(await publisher.send_frame(meta, frame.jpeg))
                metrics.gateway_frame("published")
                self._check_deliveries()
            elif message.type == WSMsgType.TEXT:
                parse_control_message(message.data)
                self.gate.end()
                await self.end(publisher)
            else:  # CLOSE, CLOSING, CLOSED, ERROR: the client or the pusher ended the stream
                return

    def _check_deliveries(self) -> None:
        """Forget delivered frames; a frame the broker refused ends the stream."""
        for future in [f for f in self.in_flight if f.done()]:
            self.in_flight.remove(future)
            if future.exception() is not None:
                raise Unavailable(f"could not publish a frame: {future.exception()!r}")

    async def end(self, publisher: SessionPublisher) -> None:
        """Publish the session's end once its frames are in, so the verifier decides without waiting."""
        last_seq = self.gate.last_seq
        if last_seq is None or self.end_published:
            return  # no frame: the verifier settles the session at its expiry
        self.end_published = True
        try:
            await asyncio.gather(*self.in_flight)
            await publisher.end_session(SessionEnded(self.gate.session_id, now_ms(), last_seq))
        except Exception as exc:
            raise Unavailable(f"could not publish the end of the session: {exc!r}") from None

    async def end_quietly(self, publisher: SessionPublisher) -> None:
        """``end`` for a stream that is over anyway (closed, refused): a failure is only logged."""
        try:
            await self.end(publisher)
        except Unavailable as exc:
            log.warning("session %s: %s", self.gate.session_id, exc)


async def _push(ws: web.WebSocketResponse, queue: asyncio.Queue[Event], challenge: Challenge) -> None:
    """Send each observation as feedback; send the decision, then close the stream."""
    tracker = FeedbackTracker(challenge)
    try:
        while True:
            event = await queue.get()
            if isinstance(event, Decision):
                await ws.send_str(orjson.dumps(decision_message(event)).decode())
                await ws.close(code=1000, message=b"decided")
                return
            await ws.send_str(orjson.dumps(tracker.observation(event)).decode())
    except ConnectionError:
        return  # the client went away; the receiver sees the close


async def _refuse(ws: web.WebSocketResponse, refusal: Refusal) -> None:
    log.info("stream refused (%s): %s", refusal.reason_code, refusal)
    if not ws.closed:
        await ws.close(code=refusal.close_code, message=refusal.close_reason.encode())


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if not response.prepared:  # a WebSocket's upgrade response is already on the wire
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
        if request.path.startswith("/static/"):
            response.headers.update(STATIC_CORS_HEADERS)
    return response


class PathAccessLogger(AbstractAccessLogger):
    """Access log without the query string: the stream URL carries the session's token."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1f ms',
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


GATEWAY = web.AppKey("gateway", Gateway)


def make_app(
    kafka: KafkaSettings,
    keys: TokenKeys,
    policy: ChallengePolicy | None = None,
    settings: GatewaySettings | None = None,
    challenge_source: ChallengeSource | None = None,
) -> web.Application:
    """The gateway as an aiohttp application; Kafka connects when the app starts.

    ``policy`` sets the challenge weights, the start window and the default frame size.
    ``challenge_source`` is a server-side hook for tests and demos that need a known
    challenge; leave it ``None`` in production.
    """
    settings = settings or GatewaySettings()
    gateway = Gateway(kafka, keys, policy or ChallengePolicy(), settings, challenge_source)
    app = web.Application(client_max_size=settings.limits.max_body_bytes, middlewares=[security_headers])
    app[GATEWAY] = gateway
    app.cleanup_ctx.append(gateway.kafka_context)
    app.router.add_post("/sessions", gateway.create_session)
    app.router.add_get("/sessions/{session_id}/stream", gateway.stream)
    app.router.add_get("/sessions/{session_id}", gateway.poll)
    app.router.add_get("/healthz", gateway.healthz)
    app.router.add_get("/metrics", gateway.metrics_endpoint)
    app.router.add_get("/readyz", gateway.readyz)
    app.router.add_get("/", gateway.index)
    app.router.add_static("/static/", settings.static_dir)
    return app


def run_gateway(
    kafka: KafkaSettings, keys: TokenKeys, policy: ChallengePolicy, settings: GatewaySettings
) -> None:
    """Serve until interrupted (the ``liveness gateway`` command)."""
    app = make_app(kafka, keys, policy, settings)
    web.run_app(app, host=settings.host, port=settings.port, access_log_class=PathAccessLogger)
