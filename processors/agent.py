"""The processor worker: a thin Faust shell around ``processors.pipeline.process_frame``.

Inference runs on one dedicated thread so the event loop keeps serving Kafka
heartbeats; it takes the frames that arrived while it was busy as one batch, in
order, which keeps the order of every partition, and a second thread decodes each
batch's next frame meanwhile. Scale by adding processes, up to
the partition count.

The same worker is the identity stage: it answers the verifier's identity requests
(a few frames per session) by embedding the frame's face on threads of their own, with
the face network in child processes, so the FaceMesh path keeps its pace. A request a
decision waits for has a lane to itself; the others run at a lower priority. The frame
and its landmarks come from the frames it analysed last (``RecentFrames``), or, for an
older frame, are read back from the frames topic and analysed again.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from processors.evidence import EvidenceKeeper
from processors.identity import (
    RECENT_FRAMES_MAX_BYTES,
    AnalysedFrame,
    IdentityModel,
    IdentityStage,
    RecentFrames,
)
from processors.landmarks import FaceAnalyzer, FrameLimits
from processors.pipeline import FrameResult, analyse_batch, server_time_refusal
from runtime import logs, metrics
from runtime.faust_app import WorkerApp, common_app_options, in_ready_batches
from runtime.lean_worker import settle_garbage_collector
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.codec import decode_decision, decode_identity_request, encode
from schemas.errors import LivenessError
from schemas.events import IdentityRequest, SourceRef, dead_letter


@dataclass(frozen=True)
class ProcessorSettings:
    app_id: str = "liveness-processor"
    limits: FrameLimits = field(default_factory=FrameLimits)
    max_faces: int = 2
    web_port: int | None = None  # Faust's web server (metrics); off unless a port is given
    batch_max: int = 8  # most frames handed to the inference thread at once
    # An observation or identity sample is one small record, rarely joined by another within a
    # few ms at camera rates: a short linger sends it almost at once.
    producer_linger_s: float = 0.001
    identity_stage: bool = True  # answer the verifier's identity requests (needs the face model)
    # Analysed frames kept for the identity stage (~35 KB each at 640 pixels): a few seconds of
    # frames at full rate, more than the verifier's usual delay between an observation and its
    # request; fewer when frames are large, so that they never hold more than the byte budget.
    identity_recent_frames: int = 512
    identity_recent_bytes: int = RECENT_FRAMES_MAX_BYTES
    evidence_stage: bool = True  # copy each decision's reference and audit frames to the evidence topic


def make_processor_app(kafka: KafkaSettings, settings: ProcessorSettings | None = None) -> faust.App:
    settings = settings or ProcessorSettings()
    topics = kafka.topics
    # The processor keeps no table, but Faust still makes a data directory: under the temporary
    # directory, not in whatever directory the worker was started from.
    datadir = Path(tempfile.gettempdir()) / f"{settings.app_id}-data"
    options = common_app_options(kafka, settings.web_port, settings.producer_linger_s)
    app = WorkerApp(settings.app_id, datadir=str(datadir), **options)
    frames = app.topic(topics.frames, key_type=bytes, value_type=bytes)
    observations = app.topic(topics.observations, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(topics.dead_letters, key_type=bytes, value_type=bytes)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facemesh")
    # Decodes a batch's next frame while FaceMesh runs on the current one (``analyse_batch``).
    decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jpeg-decode")
    analyzer = executor.submit(
        FaceAnalyzer, max_num_faces=settings.max_faces, limits=settings.limits
    ).result()
    keeps_frames = settings.identity_stage or settings.evidence_stage
    recent = RecentFrames(
        settings.identity_recent_frames if keeps_frames else 0, settings.identity_recent_bytes
    )

    @app.agent(frames)
    async def analyse_frames(stream: faust.StreamT) -> None:
        # The ~150,000 start-up objects of MediaPipe, OpenCV, dlib and Faust are frozen: a full
        # collection over them holds the interpreter 60-125 ms, and every frame in flight waits.
        settle_garbage_collector()
        # The inference thread takes, as one batch, every frame that arrived while it was busy:
        # back to back on a backlog, while the event loop fetches and sends; a lone frame at
        # camera pace goes at once.
        await in_ready_batches(stream, settings.batch_max, _analyse)

    async def _analyse(events: Sequence[Any]) -> None:
        messages = []
        for event in events:
            refused = _server_time_refusal(event.message)
            if refused is None:
                messages.append(event.message)
            else:
                await _publish(event.message, FrameResult(None, refused))
        items = [
            (m.value, m.headers, round(m.timestamp * 1000), SourceRef(m.topic, m.partition, m.offset))
            for m in messages
        ]
        for _ in messages:
            metrics.frame_consumed()
        results = await asyncio.get_running_loop().run_in_executor(
            executor, logs.in_context(analyse_batch), analyzer, items, now_ms(), decoder
        )
        for message, result in zip(messages, results, strict=True):
            logs.bind_session(message.key)  # records are keyed by session id
            if result.analysis is not None and result.observation is not None:
                # Kept before the observation goes out: the verifier's request follows it.
                frame = AnalysedFrame(message.value, result.analysis.meshes)
                recent.keep(message.partition, message.offset, frame)
            await _publish(message, result)

    def _server_time_refusal(message: Any) -> Any:
        source = SourceRef(message.topic, message.partition, message.offset)
        return server_time_refusal(message.timestamp_type, message.value, source, now_ms())

    async def _publish(message: Any, result: FrameResult) -> None:
        if result.dead_letter is not None:
            await dead_letters.send(key=message.key, value=encode(result.dead_letter))
        if result.observation is not None:
            await observations.send(
                key=result.observation.session_id.encode(), value=encode(result.observation)
            )
        letter_reason = result.dead_letter.reason if result.dead_letter else None
        metrics.record_frame(result.observation, letter_reason, now_ms())

    _add_stages(app, kafka, settings, observations, dead_letters, recent)
    return app


def _add_stages(
    app: faust.App,
    kafka: KafkaSettings,
    settings: ProcessorSettings,
    observations: Any,
    dead_letters: Any,
    recent: RecentFrames,
) -> None:
    if settings.identity_stage:
        _add_identity_stage(app, kafka, settings, observations, dead_letters, recent)
    if settings.evidence_stage:
        _add_evidence_stage(app, kafka, settings, recent)


def _add_evidence_stage(
    app: faust.App, kafka: KafkaSettings, settings: ProcessorSettings, recent: RecentFrames
) -> None:
    """The agent that copies a decision's named frames to the evidence topic (processors/evidence.py).

    Decisions are keyed by session id like frames, so a decision's partition is its frames'
    partition; the evidence records go to that partition too, so a reader finds a session's
    evidence in one partition. A decision read twice writes the same keys again (idempotent).
    """
    decisions = app.topic(kafka.topics.decisions, key_type=bytes, value_type=bytes)
    evidence = app.topic(kafka.topics.evidence, key_type=bytes, value_type=bytes)
    # Audit images wait for nobody: the thread (and the FaceMesh threads it starts) gives way to
    # frames and to the identity samples decisions wait for.
    thread = ThreadPoolExecutor(
        max_workers=1,
        thread_name_prefix="evidence",
        initializer=_lower_thread_priority,
        initargs=(BACKGROUND_NICENESS,),
    )
    keeper = thread.submit(
        lambda: EvidenceKeeper(FaceAnalyzer(max_num_faces=settings.max_faces, limits=settings.limits))
    ).result()
    reader = FrameReader(kafka, settings.limits.max_bytes)

    @app.agent(decisions)
    async def keep_evidence(stream: faust.StreamT) -> None:
        loop = asyncio.get_running_loop()
        async for event in stream.events():
            message = event.message
            try:
                decision = decode_decision(message.value)
            except LivenessError:
                continue  # the verifier's own topic: nothing else writes there
            if decision.evidence is None:
                continue
            logs.bind_session(message.key)
            jpegs: list[tuple[int, bytes | None]] = []
            meshes: dict[int, tuple[Any, ...]] = {}
            for seq, offset in decision.evidence.frames:
                jpeg, held_meshes = await reader.frame(recent, message.partition, offset)
                jpegs.append((seq, jpeg))
                if held_meshes is not None:
                    meshes[seq] = held_meshes
            records = await loop.run_in_executor(
                thread, logs.in_context(keeper.records), decision, jpegs, meshes
            )
            for record in records:
                await evidence.send(
                    key=record.key.encode(),
                    value=record.value,
                    partition=message.partition,
                    headers=list(record.headers),
                )

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def close_evidence_reader(sender: Any, **kwargs: Any) -> None:
        await reader.stop()


def _add_identity_stage(
    app: faust.App,
    kafka: KafkaSettings,
    settings: ProcessorSettings,
    observations: Any,
    dead_letters: Any,
    recent: RecentFrames,
) -> None:
    """The agent that embeds the frames the verifier asks for, in two lanes of their own.

    A request a decision waits for (``awaited``: the challenge was just met) has a lane to
    itself, so it never queues behind the first-frame requests of sessions still under way.
    Those take the other lane, whose thread and network process run at a lower priority
    (``BACKGROUND_NICENESS``): their samples are needed seconds later, and meanwhile the CPU
    goes to frames and to decisions. Each request is acknowledged once its sample is sent; the
    commit stops at the oldest unanswered one.
    """
    requests = app.topic(kafka.topics.identity_requests, key_type=bytes, value_type=bytes)
    lanes = {
        True: _IdentityLane(kafka, settings, "id-awaited", 0),
        False: _IdentityLane(kafka, settings, "id-background", BACKGROUND_NICENESS),
    }

    @app.agent(requests)
    async def embed_identities(stream: faust.StreamT) -> None:
        manual = stream.noack()
        queues: dict[bool, asyncio.Queue[tuple[Any, IdentityRequest]]] = {a: asyncio.Queue() for a in lanes}
        # The group ends the agent if a lane fails, as an error of the agent's own would.
        async with asyncio.TaskGroup() as tasks:
            for awaited, lane in lanes.items():
                tasks.create_task(_answer(lane, queues[awaited], manual))
            async for event in manual.events():
                message = event.message
                try:
                    request = decode_identity_request(message.value)
                except LivenessError as exc:
                    source = SourceRef(message.topic, message.partition, message.offset)
                    letter = dead_letter(exc.reason_code, str(exc), source, message.value, None, now_ms())
                    await dead_letters.send(key=message.key, value=encode(letter))
                    await manual.ack(event)
                    continue
                queues[request.awaited].put_nowait((event, request))

    async def _answer(lane: _IdentityLane, queue: asyncio.Queue[Any], manual: faust.StreamT) -> None:
        loop = asyncio.get_running_loop()
        while True:
            event, request = await queue.get()
            message = event.message
            logs.bind_session(message.key)
            jpeg, meshes = await lane.reader.frame(recent, message.partition, request.frame_offset)
            sample = await loop.run_in_executor(
                lane.thread, logs.in_context(lane.stage.sample), request, jpeg, meshes
            )
            await observations.send(key=message.key, value=encode(sample))
            metrics.record_identity_sample(sample.error is None, meshes is not None)
            await manual.ack(event)

    @app.on_before_shutdown.connect  # type: ignore[misc]
    async def close_lanes(sender: Any, **kwargs: Any) -> None:
        for lane in lanes.values():
            await lane.close()


# How much lower than the worker the work nothing waits for runs (Unix nice): the identity
# samples of sessions still under way, and the evidence of decided ones.
BACKGROUND_NICENESS = 10


class _IdentityLane:
    """One thread, with its own FaceMesh, network process and frame reader, answering requests
    one at a time. Each thread owns its models (FaceMesh is not thread-safe); the network runs
    in a child process, so a pass takes the other core instead of the interpreter's lock."""

    def __init__(self, kafka: KafkaSettings, settings: ProcessorSettings, name: str, niceness: int) -> None:
        self.thread = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix=name,
            initializer=_lower_thread_priority,
            initargs=(niceness,),
        )
        self.model = IdentityModel(own_process=True, niceness=niceness)
        # Built on the lane's thread, so MediaPipe's own threads start at the lane's priority.
        self.stage = self.thread.submit(
            lambda: IdentityStage(
                FaceAnalyzer(max_num_faces=settings.max_faces, limits=settings.limits), self.model
            )
        ).result()
        self.reader = FrameReader(kafka, settings.limits.max_bytes)

    async def close(self) -> None:
        await self.reader.stop()
        self.model.close()


def _lower_thread_priority(niceness: int) -> None:
    """Run the calling thread ``niceness`` lower than the process (Linux: nice is per thread)."""
    if niceness:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)


class FrameReader:
    """Reads one frame back from the frames topic by its offset (the identity stage's input).

    A consumer without a group, assigned to one partition at a time: the stage reads a few
    frames per session, so a seek per request costs less than following the whole topic.
    """

    def __init__(self, kafka: KafkaSettings, max_frame_bytes: int, timeout_s: float = 5.0) -> None:
        self.kafka, self.max_frame_bytes, self.timeout_s = kafka, max_frame_bytes, timeout_s
        self.consumer: AIOKafkaConsumer | None = None

    async def frame(
        self, recent: RecentFrames, partition: int, offset: int | None
    ) -> tuple[bytes | None, tuple[Any, ...] | None]:
        """The frame at ``offset`` and its landmarks, from the frames this worker analysed last
        (no second FaceMesh pass); else read back from the topic, without landmarks. The JPEG
        is None when the frame is not (or no longer) there, or was never published."""
        held = recent.get(partition, offset)
        if held is not None:
            return held.jpeg, held.meshes
        if offset is None:
            return None, None
        return await self.read_offset(partition, offset), None

    async def read_offset(self, partition: int, offset: int) -> bytes | None:
        """The frame at ``offset`` of ``partition``; None when it is not (or no longer) there."""
        consumer = await self._consumer()
        tp = TopicPartition(self.kafka.topics.frames, partition)
        if consumer.assignment() != {tp}:
            consumer.assign([tp])
        consumer.seek(tp, offset)
        try:
            async with asyncio.timeout(self.timeout_s):
                record = await consumer.getone(tp)
        except TimeoutError:
            return None
        return record.value if record.offset == offset else None

    async def _consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(
                **self.kafka.client_options(),
                group_id=None,
                enable_auto_commit=False,
                max_partition_fetch_bytes=self.max_frame_bytes + 64 * 1024,
            )
            await self.consumer.start()
        return self.consumer

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
