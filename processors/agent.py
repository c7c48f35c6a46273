"""The processor worker: a thin Faust shell around ``processors.pipeline.process_frame``.

Inference runs on one dedicated thread so the event loop keeps serving Kafka
heartbeats; the agent awaits each frame before taking the next, which keeps
the order of every partition. Scale by adding processes, up to the partition count.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import faust

from liveness import logs, metrics
from liveness.config import KafkaSettings
from processors.landmarks import FaceAnalyzer, FrameLimits
from processors.pipeline import FrameResult, analyse_batch
from schemas.clock import now_ms
from schemas.codec import encode
from schemas.events import SourceRef


@dataclass(frozen=True)
class ProcessorSettings:
    app_id: str = "liveness-processor"
    limits: FrameLimits = field(default_factory=FrameLimits)
    max_faces: int = 2
    web_port: int | None = None  # Faust's web server (metrics); off unless a port is given
    batch_max: int = 8  # frames handed to the inference thread at once
    batch_within_s: float = 0.005  # longest wait for a batch to fill


def common_app_options(kafka: KafkaSettings, web_port: int | None) -> dict[str, Any]:
    """Faust settings shared by the processor and the verifier."""
    return {
        **kafka.faust_options(),
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": 1,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # Batch what an event emits (observation, table changelog, decision) instead of one
        # request per record: a few ms of linger cut the verifier's CPU per event several-fold.
        "producer_linger": 0.005,
        # Faust's default (60 s) leaves a crashed worker's partitions unread for a minute before the
        # group gives them to another member; 15 s bounds that stall (and the decisions it delays).
        "broker_session_timeout": 15.0,
        "web_enabled": web_port is not None,
        "web_port": web_port or 6066,
        "web_host": "127.0.0.1",
    }


def make_processor_app(kafka: KafkaSettings, settings: ProcessorSettings | None = None) -> faust.App:
    settings = settings or ProcessorSettings()
    topics = kafka.topics
    app = faust.App(settings.app_id, **common_app_options(kafka, settings.web_port))
    frames = app.topic(topics.frames, key_type=bytes, value_type=bytes)
    observations = app.topic(topics.observations, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(topics.dead_letters, key_type=bytes, value_type=bytes)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facemesh")
    analyzer = executor.submit(
        FaceAnalyzer, max_num_faces=settings.max_faces, limits=settings.limits
    ).result()

    @app.agent(frames)
    async def analyse_frames(stream: faust.StreamT) -> None:
        loop = asyncio.get_running_loop()
        # Frames go to the inference thread in small batches: the thread runs the model back
        # to back while the event loop fetches and sends, instead of idling at every frame
        # while the loop does its share. ``within`` bounds the wait a lone frame can add.
        async for events in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            messages = [event.message for event in events]
            items = [
                (m.value, m.headers, round(m.timestamp * 1000), SourceRef(m.topic, m.partition, m.offset))
                for m in messages
            ]
            for _ in messages:
                metrics.frame_consumed()
            results = await loop.run_in_executor(
                executor, logs.in_context(analyse_batch), analyzer, items, now_ms()
            )
            for message, result in zip(messages, results, strict=True):
                logs.bind_session(message.key)  # records are keyed by session id
                await _publish(message, result)

    async def _publish(message: Any, result: FrameResult) -> None:
        if result.dead_letter is not None:
            await dead_letters.send(key=message.key, value=encode(result.dead_letter))
        if result.observation is not None:
            await observations.send(
                key=result.observation.session_id.encode(), value=encode(result.observation)
            )
        letter_reason = result.dead_letter.reason if result.dead_letter else None
        metrics.record_frame(result.observation, letter_reason, now_ms())

    return app
