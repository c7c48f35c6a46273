"""Many genuine clients at once through the gateway, with and without a stalled broker: none blamed for us.

Each client is what the web client is: it creates a session, opens its
stream, sends real face frames (JPEG, from the pinned photos) at a steady
10 fps on an absolute schedule, sends its end and waits for the close. Each
client comes from its own loopback address (127.0.x.y), as people on a busy
day do, so the gateway runs with its default per-address limits.

The gateway is a real ``liveness gateway`` process (its RSS is read from
/proc) on a broker of our own, so the broker can be paused (SIGSTOP) mid-run:
a publish stall must never close a client with 4429 "frames faster than
15 fps" when it never sent faster than 10. One processor and one verifier
process decide the sessions; 1,500 frames/s is far more than one processor
analyses on two cores, so many decisions come from a backlog. What is judged
here is the gateway, and that each session gets one decision (the tool keeps
reading for a few seconds so a second would show; docs/reliability.md, "Known
limits", has the one way a stalled verifier can send a second).

The pure half (``StreamResult``, ``summarize``, ``format_report``) judges;
the shell half (``GatewayHarness``, ``run_load``) runs the processes and clients.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FPS = 10.0
FRAME_SIZE = (320, 240)  # a phone client's small frames: ~10 KB of JPEG each


# ---- pure: what each client saw, and the verdict ---------------------------------------------


@dataclass
class StreamResult:
    """One client's stream: what it sent, how the gateway closed it, how late its own sends ran."""

    session_id: str = ""
    created_status: int = 0
    frames_sent: int = 0
    close_code: int | None = None
    decided_on_stream: bool = False
    max_send_lag_ms: float = 0.0  # how late the client itself sent a frame against its schedule
    error: str | None = None


@dataclass(frozen=True)
class LoadReport:
    """The verdict on one run; ``ok`` when no client was refused and every session was decided once."""

    label: str
    streams: int
    frames_sent: int
    refused_4429: int
    close_codes: Mapping[str, int]
    decided: int
    decided_twice: int
    undecided: int
    errors: tuple[str, ...]
    max_client_lag_ms: float
    gateway_rss_mb: float
    duration_s: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.refused_4429 == 0
            and not self.errors
            and self.undecided == 0
            and self.decided_twice == 0
            and set(self.close_codes) <= {"1000"}
        )


def summarize(
    label: str,
    results: Sequence[StreamResult],
    decisions: Mapping[str, int],
    gateway_rss_mb: float,
    duration_s: float,
    extra: Mapping[str, Any] | None = None,
) -> LoadReport:
    """``decisions``: how many decision records each session id got on the decisions topic."""
    ids = [r.session_id for r in results if r.session_id]
    return LoadReport(
        label=label,
        streams=len(results),
        frames_sent=sum(r.frames_sent for r in results),
        refused_4429=sum(1 for r in results if r.close_code == 4429),
        close_codes=dict(Counter(str(r.close_code) for r in results)),
        decided=sum(1 for sid in ids if decisions.get(sid, 0) >= 1),
        decided_twice=sum(1 for sid in ids if decisions.get(sid, 0) > 1),
        undecided=len(results) - sum(1 for sid in ids if decisions.get(sid, 0) >= 1),
        errors=tuple(f"{r.session_id or '?'}: {r.error}" for r in results if r.error),
        max_client_lag_ms=max((r.max_send_lag_ms for r in results), default=0.0),
        gateway_rss_mb=gateway_rss_mb,
        duration_s=duration_s,
        extra=dict(extra or {}),
    )


def format_report(reports: Sequence[LoadReport]) -> str:
    """A Markdown table, one row per run."""
    rows = [
        "| run | streams | frames | 4429 | close codes | decided once | twice | undecided "
        "| client lag max | gateway RSS peak | time | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(r.close_codes.items()))
        rows.append(
            f"| {r.label} | {r.streams} | {r.frames_sent} | {r.refused_4429} | {codes} "
            f"| {r.decided - r.decided_twice} | {r.decided_twice} | {r.undecided} "
            f"| {r.max_client_lag_ms:.0f} ms | {r.gateway_rss_mb:.0f} MB | {r.duration_s:.0f} s "
            f"| {', '.join(f'{k} {v}' for k, v in r.extra.items())} |"
        )
    return "\n".join(rows)


def client_address(index: int) -> str:
    """A loopback address of its own for client ``index`` (127.0.1.1, 127.0.1.2, ...)."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


# ---- shell: frames, processes, clients ----------------------------------------------------------


def face_jpegs(width: int = FRAME_SIZE[0], height: int = FRAME_SIZE[1], count: int = 8) -> list[bytes]:
    """Real face photos of the pinned media, resized to ``width`` x ``height``, as JPEG (quality 80)."""
    import cv2

    from devtools.media import fetch_media

    jpegs = []
    for photo in fetch_media().photos[:count]:
        image = cv2.imread(str(photo))
        if image is None:
            continue
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            jpegs.append(data.tobytes())
    if not jpegs:
        raise RuntimeError("no face photo could be read from the pinned media")
    return jpegs


async def stream_client(
    base_url: str,
    index: int,
    jpegs: Sequence[bytes],
    frames: int,
    fps: float = FPS,
    close_wait_s: float = 60.0,
) -> StreamResult:
    """One genuine client from its own address: create, stream ``frames`` at ``fps``, end, await the close."""
    import aiohttp

    from producers.gateway.protocol import encode_frame_message

    result = StreamResult()
    connector = aiohttp.TCPConnector(local_addr=(client_address(index), 0))
    async with aiohttp.ClientSession(base_url, connector=connector) as http:
        try:
            size = {"image_width": FRAME_SIZE[0], "image_height": FRAME_SIZE[1]}
            async with http.post("/sessions", json=size) as response:
                result.created_status = response.status
                if response.status != 201:
                    result.error = f"create: {response.status} {await response.text()}"
                    return result
                session = await response.json()
            result.session_id = session["session_id"]
            async with http.ws_connect(f"{session['stream']}?token={session['token']}") as ws:
                listener = asyncio.create_task(_listen(ws, result))
                start = time.monotonic()
                for seq in range(frames):
                    due = start + seq / fps
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    if listener.done():
                        break  # closed by the gateway
                    result.max_send_lag_ms = max(result.max_send_lag_ms, (time.monotonic() - due) * 1000)
                    jpeg = jpegs[index % len(jpegs)]  # one person, holding still
                    await ws.send_bytes(encode_frame_message(seq, jpeg, int(time.time() * 1000)))
                    result.frames_sent += 1
                if not listener.done():
                    await ws.send_str('{"type": "end"}')
                await asyncio.wait_for(listener, close_wait_s)
        except Exception as exc:  # counted in the report, never raised: one client must not end the run
            result.error = f"{type(exc).__name__}: {exc}"
    return result


async def _listen(ws: Any, result: StreamResult) -> None:
    import aiohttp

    async for message in ws:
        if message.type == aiohttp.WSMsgType.TEXT and '"type":"decision"' in message.data.replace(" ", ""):
            result.decided_on_stream = True
    result.close_code = ws.close_code


class GatewayHarness:
    """A broker of our own (to pause it), a processor, a verifier and a ``liveness gateway`` process on it."""

    def __init__(self, work_dir: Path, partitions: int = 4) -> None:
        from devtools.broker import BrokerConfig, LocalBroker, free_ports
        from devtools.stack import Stack
        from runtime.settings import KafkaSettings

        self.work_dir = work_dir
        port, controller_port, self.gateway_port = free_ports(3)
        data_dir = work_dir / f"kafka-{secrets.token_hex(3)}"
        self.broker = LocalBroker(BrokerConfig(data_dir=data_dir, port=port, controller_port=controller_port))
        kafka = KafkaSettings(
            bootstrap=self.broker.bootstrap, topic_prefix=f"g{secrets.token_hex(3)}.", partitions=partitions
        )
        self.stack = Stack(kafka=kafka, work_dir=work_dir / "stack", processors=1, verifiers=1)
        self.gateway: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def __enter__(self) -> GatewayHarness:
        from liveness.workers import WorkerProcess

        self.broker.start(timeout_s=120)
        try:
            self.stack.__enter__()
            env = {**self.stack.env(), "LIVENESS_LOG_LEVEL": "WARNING", "LIVENESS_GATEWAY_DEMO": "1"}
            args = ["--host", "0.0.0.0", "--port", str(self.gateway_port)]
            self.gateway = WorkerProcess("gateway", args, env, self.work_dir / "gateway.log").start()
            asyncio.run(self._wait_ready(60.0))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        self.stack.close()
        self.broker.stop()

    async def _wait_ready(self, timeout_s: float) -> None:
        import aiohttp

        async with asyncio.timeout(timeout_s), aiohttp.ClientSession(self.base_url) as http:
            while True:
                if not self.gateway.alive():
                    raise RuntimeError(f"the gateway exited:\n{self.gateway.log_tail()}")
                try:
                    async with http.get("/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    def gateway_rss_mb(self) -> float:
        from devtools.reliability import _rss_mb

        return _rss_mb(self.gateway.pid)

    async def pause_broker(self, after_s: float, for_s: float) -> tuple[float, float]:
        """SIGSTOP the broker ``after_s`` into the run for ``for_s``: every publish stalls meanwhile."""
        await asyncio.sleep(after_s)
        pid = self.broker.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        try:
            await asyncio.sleep(for_s)
        finally:
            os.kill(pid, signal.SIGCONT)
        return started, time.monotonic()


async def run_load(
    harness: GatewayHarness,
    label: str,
    streams: int = 150,
    frames: int = 50,
    ramp_s: float = 2.0,
    pause: tuple[float, float] | None = None,
    decide_within_s: float = 150.0,
) -> LoadReport:
    """``streams`` clients started over ``ramp_s``; ``pause=(after_s, for_s)`` stalls the broker mid-run."""
    from producers.decision_watcher import DecisionWatcher

    jpegs = await asyncio.to_thread(face_jpegs)
    started = time.monotonic()
    peak_rss = 0.0
    async with DecisionWatcher(harness.stack.kafka) as watcher:

        async def client(index: int) -> StreamResult:
            await asyncio.sleep(index * ramp_s / streams)
            return await stream_client(harness.base_url, index, jpegs, frames)

        tasks = [asyncio.create_task(client(i)) for i in range(streams)]
        stall = asyncio.create_task(harness.pause_broker(*pause)) if pause else None
        while not all(t.done() for t in tasks):
            peak_rss = max(peak_rss, harness.gateway_rss_mb())
            await asyncio.wait(tasks, timeout=0.5)
        results = [t.result() for t in tasks]
        window = await stall if stall else None
        ids = {r.session_id for r in results if r.session_id}
        deadline = time.monotonic() + decide_within_s
        while time.monotonic() < deadline and not ids <= watcher.seen.keys():
            await watcher.poll(0.5)
        grace_end = time.monotonic() + 3.0  # keep reading a little: a second decision would show now
        while time.monotonic() < grace_end:
            await watcher.poll(0.5)
        counts = {sid: len(watcher.seen.get(sid, [])) for sid in ids}
    extra: dict[str, Any] = {"decided_on_stream": sum(r.decided_on_stream for r in results)}
    if window:
        extra["broker_paused_s"] = round(window[1] - window[0], 1)
    return summarize(label, results, counts, peak_rss, time.monotonic() - started, extra)
