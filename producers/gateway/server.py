"""The aiohttp shell of the gateway: create sessions, stream frames, push feedback, answer polls.

Routes::

    POST /sessions                      a tenant's backend (API key) or, in demo mode, the page:
                                        draw a challenge, publish the session start, hand out the token
    GET  /sessions/{id}/stream?token=   WebSocket: frames in, observations and the decision out
    GET  /sessions/{id}                 the tenant's decision (signed), or {"status": "pending"}
    GET  /.well-known/jwks.json         the public keys that verify decisions
    GET  /healthz, /readyz              liveness of the process, readiness of its Kafka clients
    GET  /                              the web client (static files under /static/)

Every check lives in the plain modules beside this one; this module reads
requests, calls them, publishes through ``SessionPublisher`` and writes replies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from aiokafka.errors import KafkaError

from producers.challenge_service import ChallengePolicy, ChallengeService
from producers.evidence_reader import read_session_evidence
from producers.gateway import logsafe
from producers.gateway.admission import CreationLimiter, StreamSlots, address_key
from producers.gateway.attempts import AttemptLedger, client_ref
from producers.gateway.deadline import StreamDeadline
from producers.gateway.errors import (
    GatewayBusy,
    IdleStream,
    Refusal,
    RegistryFull,
    TooManyStreams,
    Unavailable,
)
from producers.gateway.feedback import FeedbackTracker, decision_message, poll_response
from producers.gateway.feeds import Event, KafkaFeeds
from producers.gateway.frames import FrameGate
from producers.gateway.logsafe import loggable
from producers.gateway.protocol import (
    FrameSize,
    max_message_bytes,
    parse_backend_request,
    parse_control_message,
    parse_frame_message,
    parse_session_request,
)
from producers.gateway.registry import DecisionCache, GatewaySession, SessionRegistry, admit_stream
from producers.gateway.settings import GatewayLimits, GatewaySettings
from producers.gateway.tenants import DEMO_TENANT, user_ref_digest
from producers.publisher import SessionPublisher, now_ms
from runtime import logs, metrics
from runtime.settings import KafkaSettings
from schemas.events import Challenge, Decision, Evidence, FrameMeta, SessionEnded
from schemas.signatures import public_jwks
from schemas.tokens import TokenKeys

log = logging.getLogger(__name__)

# Server-side only: draws the challenge for a frame size. Tests inject a recording's
# challenge through it; no request parameter can reach it.
ChallengeSource = Callable[[int, int], Challenge]

CONNECT_RETRY_S = 2.0
EVIDENCE_CLOCK_SLACK_MS = 60_000
# Frames of every stream share the producer's one batch per partition: 1 MiB holds ~50
# frames of 20 KB, under the frames topic's max.message.bytes (2 MiB).
PUBLISH_BATCH_BYTES = 1024 * 1024
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


def _unauthorized() -> web.Response:
    response = _json({"error": "UNAUTHORIZED", "detail": "a tenant API key is required (Bearer)"}, 401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="liveness"'
    return response


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
        self.registry = SessionRegistry(self.limits.max_sessions)
        self.creations = CreationLimiter(self.limits, _monotonic_ms())
        self.slots = StreamSlots(self.limits.max_streams, self.limits.max_streams_per_address)
        self.ledger = AttemptLedger(settings.attempts)  # fed from Kafka: shared by every gateway
        self.publisher: SessionPublisher | None = None
        self.feeds: KafkaFeeds | None = None

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
            publisher = SessionPublisher(self.kafka, max_batch_bytes=PUBLISH_BATCH_BYTES)
            feeds = KafkaFeeds(self.kafka, self.cache, self.settings.decision_lookback_s, self.ledger)
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

    def _tenant_of(self, request: web.Request) -> str | None:
        """The tenant whose API key the request carries; in demo mode, a keyless request is the demo's."""
        authorization = request.headers.get("Authorization")
        if authorization is None and self.settings.demo_mode:
            return DEMO_TENANT
        tenant = self.settings.tenants.authenticate(authorization, now_ms())
        return tenant.tenant_id if tenant is not None else None

    async def create_session(self, request: web.Request) -> web.Response:
        tenant = self._tenant_of(request)
        if tenant is None:
            return _unauthorized()
        publisher = self.publisher
        if publisher is None or not self.ready:
            return _json({"error": "NOT_READY", "detail": "not connected to Kafka yet"}, 503)
        try:
            size, user_ref = self._session_request(tenant, await request.read())
        except Refusal as exc:
            return _json({"error": exc.reason_code, "detail": str(exc)}, 400)
        address = address_key(request.remote)
        refused = self._creation_refusal(address) or self._attempts_refusal(tenant, user_ref, address)
        if refused is not None:
            return refused
        width = size.width if size else self.policy.image_width
        height = size.height if size else self.policy.image_height
        started = dataclasses.replace(
            self.service.start(now_ms(), challenge=self.challenge_source(width, height)),
            tenant=tenant,
            user_ref=user_ref,
            client_ref=client_ref(address),
        )
        try:
            await publisher.start_session(started)
        except KafkaError as exc:  # the session does not exist until the verifier can know it
            log.warning("could not publish session start: %r", exc)
            return _json({"error": "UNAVAILABLE", "detail": "could not publish the session start"}, 503)
        self.ledger.started(started)  # before the topic brings it back: the next request counts it
        try:
            self.registry.add(started, now_ms())
        except RegistryFull:  # filled by creations running meanwhile; the verifier expires this one
            return self._registry_full()
        metrics.gateway_session_started()
        metrics.gateway_registry_size(len(self.registry))
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

    def _session_request(self, tenant: str, body: bytes) -> tuple[FrameSize | None, str | None]:
        """A backend names the user (hashed at once); the demo page asks only for a frame size."""
        if tenant == DEMO_TENANT:
            return parse_session_request(body, self.limits), None
        backend = parse_backend_request(body, self.limits)
        return backend.size, user_ref_digest(tenant, backend.user_ref)

    def _attempts_refusal(self, tenant: str, user_ref: str | None, address: str) -> web.Response | None:
        """429 when this user or this address has too many unsuccessful sessions in the window."""
        refused = self.ledger.refusal(tenant, user_ref, client_ref(address), now_ms())
        if refused is None:
            return None
        metrics.gateway_session_refused(f"{refused.scope}_attempts", len(self.registry))
        who = "for this user" if refused.scope == "user" else "from your address"
        window_min = self.settings.attempts.window_s / 60
        detail = (
            f"too many unsuccessful sessions {who} in {window_min:g} min; retry in {refused.retry_after_s} s"
        )
        response = _json(
            {"error": "TOO_MANY_ATTEMPTS", "detail": detail, "retry_after_s": refused.retry_after_s}, 429
        )
        response.headers["Retry-After"] = str(refused.retry_after_s)
        return response

    def _creation_refusal(self, address: str) -> web.Response | None:
        """429 when this address or everyone creates too fast, 503 when every remembered session is live."""
        throttled = self.creations.admit(address, _monotonic_ms())
        if throttled is not None:
            metrics.gateway_session_refused(f"{throttled.scope}_rate", len(self.registry))
            who = "from your address" if throttled.scope == "address" else "on this gateway"
            detail = f"too many sessions created {who}; retry in {throttled.retry_after_s} s"
            response = _json({"error": "RATE_LIMITED", "detail": detail}, 429)
            response.headers["Retry-After"] = str(throttled.retry_after_s)
            return response
        if not self.registry.has_room(now_ms()):
            return self._registry_full()
        return None

    def _registry_full(self) -> web.Response:
        metrics.gateway_session_refused("registry_full", len(self.registry))
        retry_after_s = max(1, math.ceil(self.registry.room_in_ms(now_ms()) / 1000))
        detail = f"this gateway holds {self.limits.max_sessions} live sessions; retry in {retry_after_s} s"
        response = _json({"error": "FULL", "detail": detail}, 503)
        response.headers["Retry-After"] = str(retry_after_s)
        return response

    async def poll(self, request: web.Request) -> web.Response:
        """The decision of one of the caller's sessions; another tenant's is as unknown as a made-up id."""
        tenant = self._tenant_of(request)
        if tenant is None:
            return _unauthorized()
        session_id = request.match_info["session_id"]
        decision = self.cache.get(session_id)
        owner = (decision.tenant or DEMO_TENANT) if decision is not None else self.ledger.owner(session_id)
        if owner is None and tenant == DEMO_TENANT:
            owner = DEMO_TENANT  # the demo's polls wait for sessions this gateway has not seen start
        if owner != tenant:
            return _json({"error": "UNKNOWN_SESSION", "detail": "no such session of yours"}, 404)
        return _json(poll_response(decision))

    async def reference(self, request: web.Request) -> web.Response:
        """The reference image of one of the caller's decided sessions (JPEG); 404 for anyone else's."""
        tenant = self._tenant_of(request)
        if tenant is None:
            return _unauthorized()
        session_id = request.match_info["session_id"]
        decision = self.cache.get(session_id)
        if decision is None or (decision.tenant or DEMO_TENANT) != tenant:
            return _json({"error": "UNKNOWN_SESSION", "detail": "no decided session of yours"}, 404)
        # The evidence is written after the decision; a minute of slack covers the two clocks.
        since_ms = decision.decided_at_ms - EVIDENCE_CLOCK_SLACK_MS
        images = await read_session_evidence(self.kafka, session_id, since_ms)
        image = images.get(Evidence.reference_id(session_id))
        if image is None:
            return _json({"error": "NO_REFERENCE", "detail": "no reference image (yet, or deleted)"}, 404)
        headers = {
            "X-Evidence-Id": image.key,
            "X-Frame-Seq": image.headers.get("seq", ""),
            "Cache-Control": "no-store",
        }
        return web.Response(body=image.jpeg, content_type="image/jpeg", headers=headers)

    async def jwks(self, request: web.Request) -> web.Response:
        response = _json(public_jwks(self.settings.decision_public_keys))
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

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
        # This handler's task logs with the session id; the path is the client's text, escaped.
        logs.bind_session(loggable(request.match_info["session_id"]))
        # Twice the largest valid message: anything up to that gets our own clear refusal,
        # anything beyond is cut by aiohttp itself (close code 1009).
        ws = web.WebSocketResponse(
            max_msg_size=2 * max_message_bytes(self.limits), heartbeat=self.limits.heartbeat_s
        )
        await ws.prepare(request)
        address = address_key(request.remote)
        try:
            session = self._admit(request, address)
        except Refusal as exc:
            await _refuse(ws, exc)
            return ws
        self.slots.open(address)
        metrics.gateway_connection_opened()
        try:
            await self._serve(ws, session)
        finally:
            self.slots.close(address)
            metrics.gateway_connection_closed()
        return ws

    def _admit(self, request: web.Request, address: str) -> GatewaySession:
        refusal = self.slots.refusal(address)
        if refusal == "total":
            raise GatewayBusy(f"this gateway serves {self.limits.max_streams} streams already; retry later")
        if refusal == "address":
            raise TooManyStreams(
                f"{self.limits.max_streams_per_address} streams from your address are open; close one first"
            )
        if not self.ready:
            raise GatewayBusy("not connected to Kafka yet; retry later")
        token = request.query.get("token", "")
        return admit_stream(self.registry, self.keys, request.match_info["session_id"], token, now_ms())

    async def _serve(self, ws: web.WebSocketResponse, session: GatewaySession) -> None:
        started, feeds, publisher, limits = session.started, self.feeds, self.publisher, self.limits
        assert feeds is not None and publisher is not None
        opened_ms = _monotonic_ms()
        stream = FrameStream(
            ws,
            FrameGate(started.session_id, started.challenge, limits, opened_ms),
            StreamDeadline(limits.idle_timeout_s, limits.end_wait_s, opened_ms),
            limits,
        )
        pusher = asyncio.create_task(_push(ws, feeds.subscribe(started.session_id), started.challenge))
        try:
            # The frames admitted before a refusal reach the broker before the client hears
            # the close (``run`` returns once they are acknowledged), so what the client was
            # told was accepted is durable by then.
            refusal = await stream.run(publisher)
            if refusal is not None:
                await _refuse(ws, refusal)
        finally:
            feeds.unsubscribe(started.session_id)
            pusher.cancel()
            await asyncio.gather(pusher, return_exceptions=True)
            await stream.end_quietly(publisher)
        if not ws.closed:
            detail = f"ended; no decision within {limits.end_wait_s:g} s: poll GET /sessions/{{id}}"
            await ws.close(code=1000, message=detail.encode())


class _End:
    """Queued after a stream's last frame: publish the session's end once the frames are in."""


class _Close:
    """Queued when reading is over: hand over what is queued, wait for the acknowledgements, stop."""


Outgoing = tuple[FrameMeta, bytes] | _End | _Close


class FrameStream:
    """One open stream: a reader that judges the client's messages, a sender that publishes them.

    The reader never waits for Kafka. It reads each message as it arrives, so
    the rate limit sees the client's own pacing, and hands admitted frames to
    the sender through a queue of ``publish_queue_frames``. When Kafka is slower
    than the client and the queue is full, the reader stops reading (TCP pushes
    back on the client) and the time it stopped is not counted against the
    client: not by the rate limit, not by the stream time, not by the idle limit.
    """

    def __init__(
        self, ws: web.WebSocketResponse, gate: FrameGate, deadline: StreamDeadline, limits: GatewayLimits
    ) -> None:
        self.ws, self.gate, self.deadline, self.limits = ws, gate, deadline, limits
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue()  # bounded by ``_enqueue``
        self._taken = asyncio.Event()
        self.in_flight: list[asyncio.Future[object]] = []
        self.end_published = False
        self.broken = False

    async def run(self, publisher: SessionPublisher) -> Refusal | None:
        """Read and publish until the stream is over; the refusal that ended it, if any.

        Returns once every admitted frame is acknowledged by the broker.
        """
        sender = asyncio.create_task(self._send(publisher))
        reader = asyncio.create_task(self.receive())
        try:
            await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():  # the sender failed: the stream ends with its refusal
                reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self.queue.put_nowait(_Close())
            await asyncio.gather(sender, return_exceptions=True)
        finally:  # the handler itself cancelled (server shutting down): stop both
            for task in (reader, sender):
                task.cancel()
        return _refusal_of(sender) or _refusal_of(reader)

    async def receive(self) -> None:
        """Read messages until the socket closes or the deadline passes; raise a ``Refusal`` at a bad one."""
        while True:
            try:
                # Pings and pongs are answered inside ``receive`` and do not move this deadline.
                async with asyncio.timeout(self.deadline.remaining_s(_monotonic_ms())):
                    message = await self.ws.receive()
            except TimeoutError:
                if self.deadline.ended:
                    return
                raise IdleStream(f"no message for {self.limits.idle_timeout_s:g} s") from None
            arrived_ms = _monotonic_ms()
            if message.type == WSMsgType.BINARY:
                self.deadline.heard(arrived_ms)
                try:
                    frame = parse_frame_message(message.data, self.limits)
                    meta = self.gate.admit(frame, arrived_ms, now_ms())
                except Refusal:
                    metrics.gateway_frame("rejected")
                    raise
                await self._enqueue((meta, frame.jpeg))
            elif message.type == WSMsgType.TEXT:
                parse_control_message(message.data)
                self.gate.end()
                self.deadline.end(arrived_ms)
                self.queue.put_nowait(_End())
            else:  # CLOSE, CLOSING, CLOSED, ERROR: the client or the pusher ended the stream
                return

    async def _enqueue(self, frame: tuple[FrameMeta, bytes]) -> None:
        """Queue a frame for the sender; while the queue is full, stop reading (our back-pressure)."""
        if self.queue.qsize() >= self.limits.publish_queue_frames:
            metrics.gateway_publish_paused()
            paused_ms = _monotonic_ms()
            while self.queue.qsize() >= self.limits.publish_queue_frames:
                self._taken.clear()
                await self._taken.wait()
            span_ms = _monotonic_ms() - paused_ms
            self.gate.paused(span_ms)
            self.deadline.paused(span_ms)
        self.queue.put_nowait(frame)

    async def _send(self, publisher: SessionPublisher) -> None:
        """Hand queued frames to Kafka in order; publish the end when it comes; raise ``Unavailable``."""
        try:
            await self._send_queued(publisher)
        except Unavailable:
            self.broken = True  # frames admitted after the failure were never sent: no end for them
            raise

    async def _send_queued(self, publisher: SessionPublisher) -> None:
        while True:
            item = await self.queue.get()
            self._taken.set()
            if isinstance(item, _Close):
                break
            if isinstance(item, _End):
                await self.end(publisher)
                continue
            meta, jpeg = item
            try:
                self.in_flight.append(await publisher.send_frame(meta, jpeg))
            except Exception as exc:
                raise Unavailable(f"could not publish a frame: {exc!r}") from None
            metrics.gateway_frame("published")
            self._check_deliveries()
        try:
            await asyncio.gather(*self.in_flight)
        except Exception as exc:
            raise Unavailable(f"could not publish a frame: {exc!r}") from None

    def _check_deliveries(self) -> None:
        """Forget delivered frames; a frame the broker refused ends the stream."""
        for future in [f for f in self.in_flight if f.done()]:
            self.in_flight.remove(future)
            if future.exception() is not None:
                raise Unavailable(f"could not publish a frame: {future.exception()!r}")

    async def end(self, publisher: SessionPublisher) -> None:
        """Publish the session's end once its frames are in, so the verifier decides without waiting."""
        last_seq = self.gate.last_seq
        if last_seq is None or self.end_published or self.broken:
            return  # no frame (or frames lost): the verifier settles the session by its own clock
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


def _refusal_of(task: asyncio.Task[None]) -> Refusal | None:
    """The refusal a finished task raised; any other exception is a bug and propagates."""
    if task.cancelled() or task.exception() is None:
        return None
    exc = task.exception()
    if isinstance(exc, Refusal):
        return exc
    raise exc  # type: ignore[misc]


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
    # The refusal's text may quote the request (a session id from the path); the logger's
    # filter escapes it (``logsafe``), as it does every gateway log line.
    log.info("stream refused (%s): %s", refusal.reason_code, refusal)
    metrics.gateway_stream_refused(refusal.close_code)
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
    """Access log without the query string (the stream URL carries the session's token).

    The path and method are the client's text: control characters are escaped,
    so a path cannot end the line and forge another.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1f ms',
            loggable(request.remote),
            loggable(request.method),
            loggable(request.path),
            response.status,
            time * 1000,
        )


def cors(tenants: Any) -> Callable[..., Awaitable[web.StreamResponse]]:
    """CORS for the API paths: only origins a tenant lists (exact), never a wildcard.

    A tenant's page on its own origin may poll its session's result or, in demo mode, create one;
    a preflight carries no key, so it is answered for any listed origin, and the key decides
    what the request itself may see.
    """

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        listed = request.path.startswith("/sessions") and tenants.origin_allowed(origin)
        if request.method == "OPTIONS" and listed:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if listed and not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = str(origin)
            response.headers["Vary"] = "Origin"
        return response

    return middleware


# How the gateway's aiohttp server is run (``web.run_app``, or a test's ``TestServer``).
SERVER_OPTIONS: dict[str, Any] = {"access_log_class": PathAccessLogger}


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
    logsafe.install()
    gateway = Gateway(kafka, keys, policy or ChallengePolicy(), settings, challenge_source)
    app = web.Application(
        client_max_size=settings.limits.max_body_bytes, middlewares=[security_headers, cors(settings.tenants)]
    )
    app[GATEWAY] = gateway
    app.cleanup_ctx.append(gateway.kafka_context)
    app.router.add_post("/sessions", gateway.create_session)
    app.router.add_get("/sessions/{session_id}/stream", gateway.stream)
    app.router.add_get("/sessions/{session_id}", gateway.poll)
    app.router.add_get("/sessions/{session_id}/reference", gateway.reference)
    app.router.add_get("/.well-known/jwks.json", gateway.jwks)
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
    web.run_app(app, host=settings.host, port=settings.port, **SERVER_OPTIONS)
