"""Prometheus metrics of every deployable, the endpoint that serves them, and the probes that feed them.

One module for all roles, so the processor, the verifier and the gateway
publish the same names: dashboards (``deploy/grafana``) and alerts query
nothing else. The metric objects live in the process-wide default registry
(which also carries ``process_*`` CPU and memory figures); the functions below
are what the adapters call, so a metric's labels are chosen in one place.

Counters count what this process did since it started; Prometheus' ``rate()``
copes with restarts. A decision is counted once the broker has it; the
decisions topic, not this counter, is the record of truth (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from schemas.events import Decision, Observation
from schemas.reasons import Reason

log = logging.getLogger(__name__)

# FaceMesh takes ~5-10 ms per frame on one core; the buckets resolve that range finely
# and still place a starved worker (hundreds of ms) somewhere.
_INFERENCE_BUCKETS_S = (0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)
_PIPELINE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A session lasts up to max_session_s (30 s) plus the idle timeout (15 s) by default.
_SESSION_BUCKETS_S = (1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0)
_LOOP_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

FRAMES_CONSUMED = Counter("liveness_frames_consumed", "Frame records a processor took from the frames topic")
FRAMES_PROCESSED = Counter(
    "liveness_frames_processed", "Frames analysed into an observation without error (any number of faces)"
)
INFERENCE_SECONDS = Histogram(
    "liveness_inference_seconds", "FaceMesh inference time of one frame", buckets=_INFERENCE_BUCKETS_S
)
FRAME_LATENCY_SECONDS = Histogram(
    "liveness_frame_latency_seconds",
    "From the broker's append time of a frame to its observation being ready to send",
    buckets=_PIPELINE_BUCKETS_S,
)
IDENTITY_SAMPLES = Counter(
    "liveness_identity_samples",
    "Frames embedded for the identity check, by outcome (ok, or error: no single face, frame not found)",
    ["outcome"],
)
IDENTITY_FRAMES = Counter(
    "liveness_identity_frames",
    "Where the identity stage found a requested frame: held (with its landmarks) or read back from Kafka",
    ["source"],
)
OBSERVATIONS = Counter(
    "liveness_observations",
    "Observations produced; outcome ok (reason: ONE_FACE, NO_FACE, MULTIPLE_FACES) or error (reason code)",
    ["outcome", "reason"],
)
DECISIONS = Counter(
    "liveness_decisions", "Decisions emitted by the verifier", ["outcome", "reason", "challenge_type"]
)
DECISION_SECONDS = Histogram(
    "liveness_decision_duration_seconds",
    "decided_at_ms - started_at_ms of each decision (session issued to verdict)",
    ["outcome"],
    buckets=_SESSION_BUCKETS_S,
)
DEAD_LETTERS = Counter("liveness_dead_letters", "Records sent to the dead-letter topic", ["role", "reason"])
OPEN_SESSIONS = Gauge("liveness_open_sessions", "Undecided sessions held by this verifier")
CONSUMER_LAG = Gauge(
    "liveness_consumer_lag_messages",
    "Records not yet processed per assigned partition (end offset - next offset to process)",
    ["group", "topic", "partition"],
)
EVENT_LOOP_LAG_SECONDS = Histogram(
    "liveness_event_loop_lag_seconds",
    "How late the event loop woke a sleeping probe task (a blocked loop stalls heartbeats and polls)",
    buckets=_LOOP_LAG_BUCKETS_S,
)
WORKER = Info("liveness_worker", "Role and consumer group of this process")
GATEWAY_SESSIONS = Counter("liveness_gateway_sessions_started", "Sessions the gateway started")
GATEWAY_FRAMES = Counter(
    "liveness_gateway_frames", "Frames the gateway received, by result (published, rejected)", ["result"]
)
GATEWAY_CONNECTIONS = Gauge("liveness_gateway_connections", "Open client connections (WebSocket)")
GATEWAY_SESSIONS_REFUSED = Counter(
    "liveness_gateway_sessions_refused",
    "Session creations refused, by reason (address_rate, global_rate, registry_full)",
    ["reason"],
)
GATEWAY_REGISTRY = Gauge("liveness_gateway_registry_sessions", "Live sessions the gateway remembers")
GATEWAY_STREAMS_REFUSED = Counter(
    "liveness_gateway_streams_refused", "Streams closed with a refusal, by close code", ["code"]
)
GATEWAY_PUBLISH_PAUSES = Counter(
    "liveness_gateway_publish_pauses",
    "Times a stream stopped reading its socket because its frames waited for Kafka (our back-pressure)",
)

_ONE_FACE = "ONE_FACE"


# ---- what the adapters call --------------------------------------------------------------


def frame_consumed() -> None:
    """A processor took one frame record (before analysing it)."""
    FRAMES_CONSUMED.inc()


def record_identity_sample(embedded: bool, held: bool | None = None) -> None:
    """One identity sample sent; ``held``: its frame came from the worker's recent frames, not Kafka."""
    IDENTITY_SAMPLES.labels("ok" if embedded else "error").inc()
    if held is not None:
        IDENTITY_FRAMES.labels("held" if held else "read_back").inc()


def record_frame(observation: Observation | None, dead_letter_reason: str | None, now_ms: int) -> None:
    """What one frame became: an observation, a dead letter, or both (a known session's bad frame)."""
    if dead_letter_reason is not None:
        record_dead_letter("processor", dead_letter_reason)
    if observation is None:
        return
    outcome, reason = observation_outcome(observation)
    OBSERVATIONS.labels(outcome, reason).inc()
    if observation.error is None:
        FRAMES_PROCESSED.inc()
        INFERENCE_SECONDS.observe(observation.inference_ms / 1000)
    FRAME_LATENCY_SECONDS.observe(max(0, now_ms - observation.received_at_ms) / 1000)


def observation_outcome(observation: Observation) -> tuple[str, str]:
    """``(outcome, reason)`` labels of an observation: what the frame showed, or why it failed."""
    if observation.error is not None:
        return "error", observation.error
    faces = len(observation.faces)
    if faces == 0:
        return "ok", Reason.NO_FACE.value
    return "ok", _ONE_FACE if faces == 1 else Reason.MULTIPLE_FACES.value


def record_decision(decision: Decision) -> None:
    """The verifier emitted a decision."""
    DECISIONS.labels(decision.outcome, decision.reason, decision.challenge_type).inc()
    duration_s = max(0, decision.decided_at_ms - decision.started_at_ms) / 1000
    DECISION_SECONDS.labels(decision.outcome).observe(duration_s)


def record_dead_letter(role: str, reason: str) -> None:
    """A record went to the dead-letter topic (``role``: processor, verifier, gateway)."""
    DEAD_LETTERS.labels(role, reason).inc()


def set_open_sessions(count: int) -> None:
    OPEN_SESSIONS.set(count)


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format and its content type, for a server of one's own."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(registry), CONTENT_TYPE_LATEST


def gateway_session_started() -> None:
    GATEWAY_SESSIONS.inc()


def gateway_frame(result: str) -> None:
    """A frame reached the gateway; ``result`` is ``published`` or ``rejected``."""
    GATEWAY_FRAMES.labels(result).inc()


def gateway_session_refused(reason: str, registry_sessions: int) -> None:
    GATEWAY_SESSIONS_REFUSED.labels(reason).inc()
    GATEWAY_REGISTRY.set(registry_sessions)


def gateway_registry_size(sessions: int) -> None:
    GATEWAY_REGISTRY.set(sessions)


def gateway_stream_refused(close_code: int) -> None:
    GATEWAY_STREAMS_REFUSED.labels(str(close_code)).inc()


def gateway_publish_paused() -> None:
    GATEWAY_PUBLISH_PAUSES.inc()


def gateway_connection_opened() -> None:
    GATEWAY_CONNECTIONS.inc()


def gateway_connection_closed() -> None:
    GATEWAY_CONNECTIONS.dec()


# ---- consumer lag ------------------------------------------------------------------------

TopicPartitionKey = tuple[str, int]


def partition_lag(
    end_offsets: Mapping[TopicPartitionKey, int], next_offsets: Mapping[TopicPartitionKey, int | None]
) -> dict[TopicPartitionKey, int]:
    """Lag per partition: end offset minus the next offset to process (partitions lacking either: skipped)."""
    lags = {}
    for tp, end in end_offsets.items():
        upcoming = next_offsets.get(tp)
        if end is not None and upcoming is not None:
            lags[(tp[0], tp[1])] = max(0, end - upcoming)
    return lags


@dataclass
class LagGauge:
    """Publishes lag for the partitions this process owns now, dropping those a rebalance took away.

    Without the drop, a partition that moved to another worker would be reported
    by both, and a dashboard summing lag would count it twice.
    """

    group: str
    gauge: Gauge = CONSUMER_LAG
    _shown: set[TopicPartitionKey] = field(default_factory=set)

    def publish(self, lags: Mapping[TopicPartitionKey, int]) -> None:
        for topic, partition in self._shown - lags.keys():
            self.gauge.remove(self.group, topic, str(partition))
        for (topic, partition), lag in lags.items():
            self.gauge.labels(self.group, topic, str(partition)).set(lag)
        self._shown = set(lags)


async def faust_partition_lag(app: Any) -> dict[TopicPartitionKey, int]:
    """Lag of every partition assigned to a Faust app, from its consumer and its monitor.

    The next offset to process is one past the last record a stream read, else
    the last offset this worker committed, else the consumer's fetch position
    (after a restart, before the first record: the committed offset it sought to).
    """
    consumer = app.consumer
    assigned = consumer.assignment()
    if not assigned:
        return {}
    ends = await consumer.highwaters(*assigned)
    read = app.monitor.tp_read_offsets
    committed = app.monitor.tp_committed_offsets
    upcoming: dict[TopicPartitionKey, int | None] = {}
    for tp in assigned:
        if tp in read:
            upcoming[tp] = read[tp] + 1
        elif committed.get(tp) is not None:
            upcoming[tp] = committed[tp]
        else:
            upcoming[tp] = await consumer.position(tp)
    return partition_lag(ends, upcoming)


# ---- event loop and health ---------------------------------------------------------------


class Heartbeat:
    """When the event loop last ran the probe task; a stale beat means a stuck worker."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: float | None = None

    def beat(self) -> None:
        self._last = self._clock()

    def age_s(self) -> float | None:
        return None if self._last is None else self._clock() - self._last

    def healthy(self, max_age_s: float) -> bool:
        age = self.age_s()
        return age is not None and age <= max_age_s


HEARTBEAT = Heartbeat()


async def watch_event_loop(heartbeat: Heartbeat = HEARTBEAT, interval_s: float = 0.5) -> None:
    """Forever: sleep ``interval_s``, record how late the loop woke us, beat the heartbeat."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        EVENT_LOOP_LAG_SECONDS.observe(max(0.0, loop.time() - started - interval_s))
        heartbeat.beat()


def health_status(heartbeat: Heartbeat | None, max_age_s: float) -> tuple[str, bytes]:
    """The HTTP status and body of ``/healthz``: 503 until the loop has beaten recently."""
    if heartbeat is None:
        return "200 OK", b"ok\n"
    age = heartbeat.age_s()
    if age is None:
        return "503 Service Unavailable", b"starting: event loop not seen yet\n"
    if age > max_age_s:
        return "503 Service Unavailable", f"event loop silent for {age:.1f} s\n".encode()
    return "200 OK", b"ok\n"


# ---- the HTTP endpoint -------------------------------------------------------------------

# A loop that has not woken a 0.5 s sleep for this long is stuck, not busy: Kafka's
# own session timeout (45 s) would evict the consumer soon after.
DEFAULT_MAX_LOOP_SILENCE_S = 30.0


def metrics_wsgi_app(
    registry: CollectorRegistry = REGISTRY,
    heartbeat: Heartbeat | None = HEARTBEAT,
    max_loop_silence_s: float = DEFAULT_MAX_LOOP_SILENCE_S,
) -> Callable[..., Iterable[bytes]]:
    """``/metrics`` in Prometheus' text format, and ``/healthz`` for probes."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            status, body = health_status(heartbeat, max_loop_silence_s)
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [body]
        return metrics(environ, start_response)

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # a scrape every 15 s is not news
        pass


class MetricsServer:
    """The metrics endpoint on a daemon thread; ``port`` is the bound one (useful when 0 was asked)."""

    def __init__(self, port: int, host: str = "0.0.0.0", heartbeat: Heartbeat | None = HEARTBEAT) -> None:
        app = metrics_wsgi_app(heartbeat=heartbeat)
        self._server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_metrics_server(
    port: int, host: str = "0.0.0.0", heartbeat: Heartbeat | None = HEARTBEAT
) -> MetricsServer:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` (all interfaces by default, for Prometheus)."""
    server = MetricsServer(port, host, heartbeat)
    log.info("metrics on http://%s:%s/metrics", host, server.port)
    return server


def instrument_faust_app(app: Any, role: str, lag_interval_s: float = 10.0) -> None:
    """Add the event-loop probe and the consumer-lag probe to a Faust app, and label the process."""
    group = str(app.conf.id)
    WORKER.info({"role": role, "group": group})
    lag = LagGauge(group)

    @app.task
    async def watch_liveness_loop() -> None:
        await watch_event_loop()

    @app.timer(interval=lag_interval_s)
    async def probe_consumer_lag() -> None:
        try:
            lag.publish(await faust_partition_lag(app))
        except Exception as exc:  # a probe during a rebalance may fail; the next one will not
            log.debug("consumer lag probe failed: %r", exc)
