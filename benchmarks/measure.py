"""Each benchmark measurement: starts what it needs, runs on real frames, returns plain figures."""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import dlib
import face_recognition_models
import numpy as np
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from numpy.typing import NDArray

from devtools.stack import Stack
from liveness.replay import replay_offline
from processors.face_network import NetworkProcess
from processors.identity import IdentityModel, IdentityStage, face_chip
from processors.landmarks import FaceAnalyzer, decode_jpeg
from processors.pipeline import process_frame
from producers.challenge_service import ChallengeService
from producers.decision_watcher import DecisionWatcher
from producers.publisher import SessionPublisher
from producers.recording import RecordedSession
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.codec import encode, frame_headers
from schemas.events import FrameMeta, IdentityRequest, IdentitySample, Observation, SessionEnded, SourceRef
from verifier.session import Session, Verifier
from verifier.settings import VerifierSettings


@dataclass(frozen=True)
class Bench:
    """Where the benchmark runs: a broker address, a work directory, and how big each step is."""

    bootstrap: str
    work_dir: Path
    partitions: int = 4
    quick: bool = False

    def stack(self, processors: int, verifiers: int) -> Stack:
        kafka = KafkaSettings(self.bootstrap, f"b{uuid.uuid4().hex[:6]}.", self.partitions)
        return Stack(kafka, self.work_dir / kafka.topic_prefix.rstrip("."), processors, verifiers)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_peak_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- identity: the embedding's cost next to FaceMesh's -----------------------------------------


def identity_cost(
    frames: Sequence[bytes], recordings: Sequence[RecordedSession], embeddings: int
) -> dict[str, float]:
    """CPU ms per FaceMesh frame and per identity sample on the same frames, and what the identity
    stage adds to a session: the frames the verifier asks for, each decoded, aligned and embedded.

    A sample is timed as the worker makes it (on the landmarks its FaceMesh pass found in the
    frame) and, beside it, as it is made when the frame has left the worker's recent frames
    (FaceMesh run again). CPU time of the process rather than wall time: the budget is CPU,
    and on a shared machine wall time also counts the neighbours. The frames per session are
    counted as the verifier asks for them, replaying ``recordings`` offline.
    """
    with FaceAnalyzer() as analyzer:
        model = IdentityModel(own_process=True)  # as the worker runs it: the network in a child
        stage = IdentityStage(analyzer, model)
        images = [decode_jpeg(frame, analyzer.limits) for frame in frames]
        meshes = [analyzer.mesh_points(image) for image in images[:1]]  # warm-up: builds the graph
        started = time.process_time()
        meshes = [analyzer.mesh_points(image) for image in images]
        facemesh_ms = (time.process_time() - started) * 1000 / len(images)
        faces = [(jpeg, mesh) for jpeg, mesh in zip(frames, meshes, strict=True) if len(mesh) == 1]
        faces = [faces[i % len(faces)] for i in range(embeddings)]
        request = IdentityRequest("bench", 0, None, 0)
        stage.sample(request, *faces[0])  # warm-up
        sample_ms = _sample_ms(lambda jpeg, mesh: stage.sample(request, jpeg, mesh), faces, model)
        again_ms = _sample_ms(lambda jpeg, _: stage.sample(request, jpeg), faces, model)
        chips = [face_chip(decode_jpeg(jpeg, analyzer.limits), mesh[0]) for jpeg, mesh in faces]
        network_ms, dlib_ms = _network_ms(chips, model)
        per_session = [_requested_frames(analyzer, model, recording) for recording in recordings]
        model.close()
    frames_per_session = statistics.mean(len(r.frames) for r in recordings)
    embeddings_per_session = statistics.mean(per_session)
    return {
        "facemesh_ms_per_frame": facemesh_ms,
        "embedding_ms": sample_ms,
        "embedding_ms_facemesh_again": again_ms,
        # The network alone on the same chips, side by side: ours (numpy's BLAS, one thread, in
        # the child) and dlib's own pass (the dlib-bin wheel, no BLAS) on the same weights.
        "network_ms": network_ms,
        "network_ms_dlib_own_pass": dlib_ms,
        "frames_per_session": frames_per_session,
        "embeddings_per_session": embeddings_per_session,
        "facemesh_ms_per_session": facemesh_ms * frames_per_session,
        "identity_ms_per_session": sample_ms * embeddings_per_session,
        "identity_share": sample_ms * embeddings_per_session / (facemesh_ms * frames_per_session),
        # With identity_every_step off: the first framed frame and the final rest only.
        "identity_share_ends_only": sample_ms * 2 / (facemesh_ms * frames_per_session),
    }


def _sample_ms(
    sample: Callable[[bytes, list[NDArray[np.float64]]], object], faces: list, model: IdentityModel
) -> float:
    """CPU ms per identity sample made by ``sample`` on each (jpeg, meshes) of ``faces``: this
    process's (decoding, alignment) plus the network child's."""
    child = _network(model).pid
    started, child_started = time.process_time(), cpu_seconds(child)
    for jpeg, mesh in faces:
        sample(jpeg, mesh)
    spent = time.process_time() - started + cpu_seconds(child) - child_started
    return spent * 1000 / len(faces)


def _network(model: IdentityModel) -> NetworkProcess:
    """The child that runs ``model``'s network, as in the worker (its CPU is not this process's)."""
    assert model.network is not None, "the network runs in a child"
    return model.network


def _network_ms(chips: list[NDArray[np.uint8]], model: IdentityModel) -> tuple[float, float]:
    """CPU ms per chip of the network alone: in the worker's child, and dlib's own pass here."""
    reference = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    reference.compute_face_descriptor(chips[0])  # warm-up
    started = time.process_time()
    for chip in chips:
        reference.compute_face_descriptor(chip)
    dlib_ms = (time.process_time() - started) * 1000 / len(chips)
    network = _network(model)
    child_started = cpu_seconds(network.pid)
    for chip in chips:
        network.descriptor(chip)
    return (cpu_seconds(network.pid) - child_started) * 1000 / len(chips), dlib_ms


class _CountingStage(IdentityStage):
    def __init__(self, analyzer: FaceAnalyzer, model: IdentityModel) -> None:
        super().__init__(analyzer, model)
        self.requests = 0

    def sample(
        self,
        request: IdentityRequest,
        jpeg: bytes | None,
        meshes: Sequence[NDArray[np.float64]] | None = None,
    ) -> IdentitySample:
        self.requests += 1
        return super().sample(request, jpeg, meshes)


def _requested_frames(analyzer: FaceAnalyzer, model: IdentityModel, recording: RecordedSession) -> int:
    """How many of a recording's frames the verifier asks the identity stage for (prefetches included)."""
    stage = _CountingStage(analyzer, model)
    replay_offline(recording, analyzer, identity=stage)
    return stage.requests


# ---- 1 and 2: processor throughput ----------------------------------------------------------


def ceiling_fps(frames: Sequence[bytes]) -> float:
    """Frames per second of decode + FaceMesh in a plain loop: the model's own speed, the floor of cost."""
    with FaceAnalyzer() as analyzer:
        analyzer.analyse_jpeg(frames[0])  # warm-up: the first call builds the graph
        started = time.perf_counter()
        for frame in frames:
            analyzer.analyse_jpeg(frame)
        return len(frames) / (time.perf_counter() - started)


async def _publish_frames(kafka: KafkaSettings, frames: Sequence[bytes], sessions: int) -> None:
    async with SessionPublisher(kafka, linger_ms=20) as publisher:
        deliveries = []
        for index, frame in enumerate(frames):
            meta = FrameMeta(f"bench-{index % sessions}", index // sessions, now_ms())
            deliveries.append(await publisher.send_frame(meta, frame))
        await asyncio.gather(*deliveries)


async def _observation_times(kafka: KafkaSettings, count: int, timeout_s: float) -> list[float]:
    """Producer timestamps (s) of the first ``count`` observations: when the processor emitted each."""
    consumer = AIOKafkaConsumer(
        kafka.topics.observations, **kafka.client_options(), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    stamps: list[float] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(stamps) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                stamps.extend(record.timestamp / 1000 for record in batch)
    finally:
        await consumer.stop()
    return sorted(stamps)


def pipeline_fps(bench: Bench, frames: Sequence[bytes], processors: int) -> dict[str, float]:
    """Frames per second of ``processors`` worker processes through Kafka, on a backlog of ``frames``.

    The frames are published before the workers start, so the publisher does not
    compete for the two cores; the rate is taken from the processors' own output
    timestamps, between their first and last observation.
    """
    with bench.stack(0, 0) as stack:
        asyncio.run(_publish_frames(stack.kafka, frames, sessions=bench.partitions * 4))
        workers = [stack.add_worker("processor", i) for i in range(processors)]
        stack.wait_ready()
        stamps = asyncio.run(_observation_times(stack.kafka, len(frames), timeout_s=600))
        peak = max(rss_peak_mb(w.pid) for w in workers)
    fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return {"fps": fps, "frames": float(len(stamps)), "peak_rss_mb": peak}


# ---- 3 and 4: decision latency --------------------------------------------------------------

FRAME_PERIOD_S = 0.1  # 10 fps, the web client's capture rate


async def _run_session(
    publisher: SessionPublisher, service: ChallengeService, recording: RecordedSession, fps: float
) -> tuple[str, dict[int, float], float]:
    """Publish one session at ``fps``; returns its id, the ack time of every frame and of the end."""
    started = service.start(now_ms(), challenge=recording.challenge, session_id=uuid.uuid4().hex)
    await publisher.start_session(started)
    acked: dict[int, float] = {}
    period = 1.0 / fps
    begin = time.monotonic()
    for index, frame in enumerate(recording.frames):
        await asyncio.sleep(max(0.0, begin + index * period - time.monotonic()))
        delivery = await publisher.send_frame(
            FrameMeta(started.session_id, frame.seq, now_ms()), frame.jpeg()
        )
        await delivery
        acked[frame.seq] = time.time()
    await publisher.end_session(SessionEnded(started.session_id, now_ms(), recording.frames[-1].seq))
    return started.session_id, acked, time.time()


# One session of a latency run: its id, the ack time of every frame, the ack time of its end.
SessionRun = tuple[str, dict[int, float], float]


@dataclass(frozen=True)
class LatencyRun:
    """What a latency load left: every session's run, when its decision arrived, the decisions."""

    runs: list[SessionRun]
    received: dict[str, float]
    decisions: dict[str, Any]

    def deciding_ack(self, run: SessionRun) -> float:
        """When the frame that settled the session was acknowledged, or its end when the decision
        waited for it."""
        session_id, acked, ended = run
        used = self.decisions[session_id][0].frames_used
        return acked.get(used - 1, ended) if used < len(acked) else ended

    def latencies(self) -> list[float]:
        """Decision latency (s) of each session: from ``deciding_ack`` to the decision's arrival."""
        now = time.time()
        return [self.received.get(run[0], now) - self.deciding_ack(run) for run in self.runs]


async def latency_run(
    kafka: KafkaSettings,
    service: ChallengeService,
    recordings: Sequence[RecordedSession],
    concurrent: int,
    rounds: int,
    lockstep: bool = False,
) -> LatencyRun:
    """``concurrent`` sessions at 10 fps, each session starting as one ends, until every decision is in.

    The lanes start a tenth of a frame period apart (``concurrent`` lanes spread over 100 ms), as
    independent cameras' frames interleave; ``lockstep`` starts them together, so every lane's
    frames reach the processor in the same instant, a burst of ``concurrent`` frames every 100 ms.
    """
    with _bench_collector_frozen():
        return await _latency_run(kafka, service, recordings, concurrent, rounds, lockstep)


async def until_received(
    received: Mapping[str, float],
    session_ids: set[str],
    timeout_s: float,
    reader: asyncio.Task[None] | None = None,
) -> None:
    """Wait until every one of ``session_ids`` has an arrival time in ``received``; raises
    ``TimeoutError`` counting the missing ones after ``timeout_s``, and stops waiting as soon as
    the ``reader`` filling ``received`` has ended (its own error, if any, is raised by awaiting it)."""
    deadline = time.monotonic() + timeout_s
    while not session_ids <= received.keys():
        if reader is not None and reader.done():
            return
        if time.monotonic() > deadline:
            missing = len(session_ids - received.keys())
            raise TimeoutError(f"{missing} of {len(session_ids)} decisions missing after {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


@contextmanager
def _bench_collector_frozen() -> Iterator[None]:
    """The bench's own start-up objects left out of its garbage collector's full passes meanwhile.

    The cameras and the decision watcher run in this process, which has loaded MediaPipe and
    the face network: a full pass over all that (~60 ms, measured) delays the frames it sends and the
    decisions it times, which is the bench's latency, not the pipeline's.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _latency_run(
    kafka: KafkaSettings,
    service: ChallengeService,
    recordings: Sequence[RecordedSession],
    concurrent: int,
    rounds: int,
    lockstep: bool,
) -> LatencyRun:
    received: dict[str, float] = {}
    async with DecisionWatcher(kafka) as watcher, SessionPublisher(kafka) as publisher:
        stop = asyncio.Event()

        async def collect() -> None:
            while not stop.is_set():
                for decision in await watcher.poll(0.05):
                    received.setdefault(decision.session_id, time.time())

        collector = asyncio.create_task(collect())

        async def lane(lane_index: int) -> list[SessionRun]:
            if not lockstep:
                await asyncio.sleep(lane_index * FRAME_PERIOD_S / concurrent)
            runs = []
            for turn in range(rounds):
                recording = recordings[(lane_index + turn * concurrent) % len(recordings)]
                runs.append(await _run_session(publisher, service, recording, fps=1 / FRAME_PERIOD_S))
            return runs

        lanes = await asyncio.gather(*(lane(i) for i in range(concurrent)))
        runs = [run for lane_runs in lanes for run in lane_runs]
        # The collector alone reads the decisions: a second reader of the same consumer (the
        # watcher's own ``wait_for``) would take some of the last ones, and those sessions would
        # get no arrival time at all.
        try:
            await until_received(received, {sid for sid, _, _ in runs}, timeout_s=120, reader=collector)
            await asyncio.sleep(0.2)
        finally:
            stop.set()
            await collector
    return LatencyRun(runs, received, dict(watcher.seen))


# Sessions a row's p99 is taken over, from P99_FROM_LOAD lanes up (the goal's load and saturation):
# of 24 sessions (8 lanes, 3 rounds) the "p99" is the slowest one, which one stall of the host
# decides; of 96 it is the second slowest.
P99_SESSIONS = 96
P99_FROM_LOAD = 4  # concurrent sessions; below it a row keeps ``rounds`` (96 sessions one at a time: 9 min)


def rounds_for_p99(concurrent: int, rounds: int) -> int:
    """Rounds of ``concurrent`` lanes: at least ``rounds``, and ``P99_SESSIONS`` sessions in all
    from ``P99_FROM_LOAD`` lanes up."""
    if concurrent < P99_FROM_LOAD:
        return rounds
    return max(rounds, -(-P99_SESSIONS // concurrent))


def decision_latency(
    bench: Bench,
    recordings: Sequence[RecordedSession],
    loads: Sequence[int],
    rounds: int,
    lockstep_loads: Sequence[int] = (),
) -> list[dict[str, float]]:
    """p50/p95/p99 decision latency per load, on one processor and one verifier process; then
    the same for ``lockstep_loads`` with every lane's frames sent in the same instant."""
    rows = []
    with bench.stack(1, 1) as stack:
        service = ChallengeService(stack.keys)
        asyncio.run(latency_run(stack.kafka, service, recordings, 1, 1))  # warm-up
        runs = [(concurrent, False) for concurrent in loads] + [(n, True) for n in lockstep_loads]
        for concurrent, lockstep in runs:
            turns = rounds_for_p99(concurrent, rounds)
            load = latency_run(stack.kafka, service, recordings, concurrent, turns, lockstep)
            latencies = asyncio.run(load).latencies()
            rows.append(
                {
                    "concurrent_sessions": float(concurrent),
                    "lockstep": float(lockstep),
                    "frames_per_s": 10.0 * concurrent,
                    "sessions": float(len(latencies)),
                    "p50_ms": percentile(latencies, 50) * 1000,
                    "p95_ms": percentile(latencies, 95) * 1000,
                    "p99_ms": percentile(latencies, 99) * 1000,
                }
            )
        rows.append({"peak_rss_mb": {w.role: rss_peak_mb(w.pid) for w in stack.workers}})  # type: ignore[dict-item]
    return rows


def still_session(recording: RecordedSession, frames: int) -> list[bytes]:
    """A session of ``frames`` frames (the recording's frames, cycled): what a batch verifier stores."""
    jpegs = [frame.jpeg() for frame in recording.frames]
    return [jpegs[i % len(jpegs)] for i in range(frames)]


def batch_latency_s(recording: RecordedSession, frames: int) -> float:
    """The original sample's approach: keep every frame, analyse them all when the client asks to verify."""
    jpegs = still_session(recording, frames)
    with FaceAnalyzer() as analyzer:
        analyzer.analyse_jpeg(jpegs[0])
        verifier = Verifier(VerifierSettings(max_frames=10_000), None)
        started_event = ChallengeService(_bench_keys()).start(now_ms(), challenge=recording.challenge)
        outcome = verifier.on_started(None, started_event, now_ms())
        begin = time.perf_counter()
        for seq, jpeg in enumerate(jpegs):
            meta = FrameMeta(started_event.session_id, seq, now_ms())
            result = process_frame(
                analyzer, jpeg, frame_headers(meta), meta.captured_at_ms, SourceRef("b", 0, 0), 0
            )
            assert result.observation is not None
            outcome = verifier.on_observation(outcome.session, result.observation, meta.captured_at_ms)
        return time.perf_counter() - begin


def _bench_keys():  # noqa: ANN202 - a throwaway key for in-process runs
    from liveness.replay import ephemeral_keys

    return ephemeral_keys()


def streaming_vs_batch(
    bench: Bench, recording: RecordedSession, lengths: Sequence[int]
) -> list[dict[str, float]]:
    """Decision latency after the last frame: streaming pipeline vs analysing the stored frames at the end."""
    rows = []
    with bench.stack(1, 1) as stack:
        service = ChallengeService(stack.keys)
        for frames in lengths:
            long_session = _padded(recording, frames)
            asyncio.run(latency_run(stack.kafka, service, [long_session], 1, 1))  # warm-up
            streaming = statistics.median(
                asyncio.run(latency_run(stack.kafka, service, [long_session], 1, 3)).latencies()
            )
            batch = batch_latency_s(recording, frames)
            rows.append(
                {
                    "frames": float(frames),
                    "streaming_ms": streaming * 1000,
                    "batch_ms": batch * 1000,
                    "ratio": batch / streaming,
                }
            )
    return rows


def _padded(recording: RecordedSession, frames: int) -> RecordedSession:
    """The recording with its first (still) frame repeated up front, so it has ``frames`` frames."""
    extra = max(0, frames - len(recording.frames))
    first = recording.frames[0]
    still = [replace(first, seq=i, captured_at_ms=first.captured_at_ms + 100 * i) for i in range(extra)]
    moved = [
        replace(f, seq=f.seq + extra, captured_at_ms=f.captured_at_ms + 100 * extra) for f in recording.frames
    ]
    return replace(recording, frames=tuple(still + moved))


# ---- 5 and 6: the verifier --------------------------------------------------------------------


def observations_of(recording: RecordedSession) -> list[Observation]:
    with FaceAnalyzer() as analyzer:
        observations = []
        for frame in recording.frames:
            meta = FrameMeta("template", frame.seq, frame.captured_at_ms)
            result = process_frame(
                analyzer, frame.jpeg(), frame_headers(meta), frame.captured_at_ms, SourceRef("b", 0, 0), 0
            )
            assert result.observation is not None
            observations.append(result.observation)
    return observations


def _session_observations(
    template: Sequence[Observation], session_id: str, base_ms: int
) -> list[Observation]:
    first = template[0].captured_at_ms
    return [
        replace(
            o,
            session_id=session_id,
            captured_at_ms=base_ms + o.captured_at_ms - first,
            received_at_ms=base_ms + o.captured_at_ms - first,
        )
        for o in template
    ]


def verifier_core_rate(
    template: Sequence[Observation], recording: RecordedSession, sessions: int
) -> dict[str, float]:
    """Events per second of the verifier core in-process, with the table (de)serialisation per event."""
    keys = _bench_keys()
    verifier, service = Verifier(VerifierSettings(), keys), ChallengeService(keys)
    base = now_ms()
    table: dict[str, bytes] = {}
    events = []
    for index in range(sessions):
        started = service.start(base, challenge=recording.challenge, session_id=f"s{index}")
        events.append(started)
        events.extend(_session_observations(template, started.session_id, base))
    begin = time.perf_counter()
    for event in events:
        raw = table.get(event.session_id)
        session = Session.from_dict(orjson.loads(raw)) if raw else None
        outcome = verifier.handle(session, event, base)
        table[event.session_id] = orjson.dumps(outcome.session.to_dict())
    elapsed = time.perf_counter() - begin
    return {"observations_per_s": len(events) / elapsed, "events": float(len(events))}


async def _publish_observations(
    kafka: KafkaSettings,
    service: ChallengeService,
    recording: RecordedSession,
    template: Sequence[Observation],
    sessions: int,
) -> int:
    """Starts and pre-computed observations of ``sessions`` sessions, as processors would send them."""
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all", linger_ms=20)
    await producer.start()
    try:
        base, deliveries = now_ms(), []
        for index in range(sessions):
            started = service.start(base, challenge=recording.challenge, session_id=f"v{index}")
            key = started.session_id.encode()
            deliveries.append(await producer.send(kafka.topics.sessions, encode(started), key=key))
            for observation in _session_observations(template, started.session_id, base):
                deliveries.append(
                    await producer.send(kafka.topics.observations, encode(observation), key=key)
                )
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    return len(deliveries)


async def _processing_span(
    kafka: KafkaSettings, group: str, pid: int, backlog: int, timeout_s: float
) -> tuple[int, float, float]:
    """Records, seconds and CPU seconds of ``pid`` from the group's first commit of its inputs to its last.

    Falls back to the span from the call (just after the group's join) when more than a tenth
    of the backlog is committed by the first look, which only a small backlog (``--quick``) allows.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    joined = (0, time.monotonic(), cpu_seconds(pid))
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    await consumer.start()
    try:
        first: tuple[int, float, float] | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            count, done = await _committed_inputs(admin, consumer, kafka, group)
            now, cpu = time.monotonic(), cpu_seconds(pid)
            if done:
                start = first if first is not None and first[0] <= backlog // 10 else joined
                return count - start[0], now - start[1], cpu - start[2]
            if first is None and count > 0:
                first = (count, now, cpu)
            await asyncio.sleep(0.05)
        raise TimeoutError("verifier did not consume its backlog")
    finally:
        await consumer.stop()
        await admin.close()


async def _committed_inputs(
    admin: Any, consumer: AIOKafkaConsumer, kafka: KafkaSettings, group: str
) -> tuple[int, bool]:
    """Records of the sessions and observations topics the group has committed, and whether that is all."""
    committed = await admin.list_consumer_group_offsets(group)
    mine = {
        tp: meta.offset
        for tp, meta in committed.items()
        if tp.topic in (kafka.topics.sessions, kafka.topics.observations) and meta.offset >= 0
    }
    ends = await consumer.end_offsets(list(mine)) if mine else {}
    done = len(mine) == 2 * kafka.partitions and all(mine[tp] >= ends[tp] for tp in mine)
    return sum(mine.values()), done


def verifier_worker_rate(
    bench: Bench, template: Sequence[Observation], recording: RecordedSession, sessions: int
) -> dict[str, float]:
    """Observations per second and CPU per observation of one verifier process, on a pre-published backlog.

    The clock and the CPU count start at the worker's first commit of its inputs, not when it
    joined its group: between the two it recovers its table and reads back the decisions tail
    (0-1.5 s here), which is start-up, not processing. The records committed by then are left
    out of the count, so ``events_per_s`` and ``cpu_us_per_event`` are of processing alone;
    ``events`` is the whole backlog.
    """
    with bench.stack(0, 0) as stack:
        service = ChallengeService(stack.keys)
        events = asyncio.run(_publish_observations(stack.kafka, service, recording, template, sessions))
        worker = stack.add_worker("verifier", 0)
        stack.wait_ready()
        span = _processing_span(stack.kafka, stack.verifier_app_id, worker.pid, events, timeout_s=600)
        processed, elapsed, cpu = asyncio.run(span)
        peak = rss_peak_mb(worker.pid)
    return {
        "events": float(events),
        "events_per_s": processed / elapsed,
        "cpu_us_per_event": cpu / processed * 1e6,
        "peak_rss_mb": peak,
    }


def session_state_bytes(template: Sequence[Observation], recording: RecordedSession) -> dict[str, float]:
    """Size of one open session's table row, mid-challenge (reference frame kept, trajectory growing)."""
    keys = _bench_keys()
    verifier = Verifier(VerifierSettings(), keys)
    base = now_ms()
    started = ChallengeService(keys).start(base, challenge=recording.challenge, session_id=uuid.uuid4().hex)
    outcome = verifier.on_started(None, started, base)
    largest = 0
    for observation in _session_observations(template, started.session_id, base)[:-1]:
        outcome = verifier.on_observation(outcome.session, observation, base)
        if outcome.decision:
            break
        largest = max(largest, len(outcome.session.to_row()))  # as the table stores it
    return {
        "bytes_per_open_session": float(largest),
        "open_sessions_per_gib": float(2**30 // max(largest, 1)),
    }


# ---- 7: wire cost -----------------------------------------------------------------------------


def wire_cost(
    recordings: Sequence[RecordedSession], qualities: Sequence[int], widths: Sequence[int], frames: int
) -> list[dict[str, float]]:
    """Bytes per frame and accuracy (faces found, nose error in 640-px units) per JPEG quality and width."""
    originals = [
        cv2.imdecode(np.frombuffer(f.jpeg(), np.uint8), cv2.IMREAD_COLOR)
        for r in recordings
        for f in r.frames
    ][:frames]
    rows = []
    with FaceAnalyzer() as analyzer:
        reference = [analyzer.analyse_image(image).faces for image in originals]
        for width in widths:
            for quality in qualities:
                rows.append(_wire_row(analyzer, originals, reference, width, quality))
    return rows


def _wire_row(
    analyzer: FaceAnalyzer, originals: list[np.ndarray], reference: list, width: int, quality: int
) -> dict[str, float]:
    sizes, errors, found = [], [], 0
    for image, faces in zip(originals, reference, strict=True):
        scale = width / image.shape[1]
        resized = cv2.resize(image, (width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        data = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        sizes.append(len(data))
        result = analyzer.analyse_jpeg(data).faces
        if len(result) == 1 and len(faces) == 1:
            found += 1
            dx = result[0].nose[0] / scale - faces[0].nose[0]
            dy = result[0].nose[1] / scale - faces[0].nose[1]
            errors.append(float(np.hypot(dx, dy)))
    return {
        "width": float(width),
        "quality": float(quality),
        "bytes_per_frame": statistics.mean(sizes),
        "faces_found": found / len(originals),
        "nose_error_px_p50": percentile(errors, 50),
        "nose_error_px_p95": percentile(errors, 95),
    }
