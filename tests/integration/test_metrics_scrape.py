"""Real processor and verifier processes serve /metrics, and the counters move as real frames flow through.

(Named apart from tests/unit/liveness/test_metrics.py: test directories are not
packages, so two test modules may not share a basename.)
"""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from skimage import data

from devtools.broker import free_ports
from liveness.topics_admin import create_topics
from liveness.workers import WorkerProcess, wait_for_group
from producers.challenge_service import ChallengeService
from producers.publisher import SessionPublisher
from producers.sources import encode_jpeg
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.events import FrameMeta, SessionEnded
from schemas.tokens import TokenKeys

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FRAMES = 6
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def astronaut_jpeg() -> bytes:
    """scikit-image's astronaut (a real face, public domain) on a 640x480 canvas."""
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[40:440, 120:520] = cv2.resize(image[0:300, 80:380], (400, 400))
    return encode_jpeg(canvas)


def scrape(port: int) -> Samples:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (n, keys), value in samples.items() if n == name and wanted <= keys)


def wait_for(port: int, ready: Callable[[Samples], bool], timeout_s: float, worker: WorkerProcess) -> Samples:
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(port)
        if ready(samples):
            return samples
        if time.monotonic() > deadline or not worker.alive():
            raise AssertionError(f"{worker.role} metrics never got there:\n{worker.log_tail()}")
        time.sleep(1)


def healthz_status(port: int) -> int:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code


async def publish_session(kafka: KafkaSettings, keys: TokenKeys, jpeg: bytes) -> str:
    started = ChallengeService(keys).start(now_ms())
    async with SessionPublisher(kafka) as publisher:
        await publisher.start_session(started)
        for seq in range(FRAMES):
            await (await publisher.send_frame(FrameMeta(started.session_id, seq, now_ms()), jpeg))
            await asyncio.sleep(0.1)
        await publisher.end_session(SessionEnded(started.session_id, now_ms(), FRAMES - 1))
    return started.session_id


def start_workers(
    kafka: KafkaSettings, keys: TokenKeys, work_dir: Path, ports: list[int]
) -> tuple[WorkerProcess, WorkerProcess]:
    """A processor and a verifier, each serving its metrics on its own port of ``ports``."""
    processor_port, verifier_port = ports
    env = {
        "LIVENESS_BOOTSTRAP": kafka.bootstrap,
        "LIVENESS_TOPIC_PREFIX": kafka.topic_prefix,
        "LIVENESS_PARTITIONS": str(kafka.partitions),
        "LIVENESS_TOKEN_SECRET": keys.current.decode(),
        "LIVENESS_LOG_FORMAT": "json",
        "LIVENESS_LOG_LEVEL": "INFO",
    }
    processor = WorkerProcess(
        "processor", ["--metrics-port", str(processor_port)], env, work_dir / "processor.log"
    )
    verifier_args = ["--metrics-port", str(verifier_port), "--data-dir", str(work_dir / "verifier")]
    verifier = WorkerProcess("verifier", verifier_args, env, work_dir / "verifier.log")
    return processor.start(), verifier.start()


def test_worker_metrics_counters_move_with_real_frames_and_decisions(
    kafka_bootstrap: str, unique_prefix: str, tmp_path: Path
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=unique_prefix, partitions=2)
    keys = TokenKeys(secrets.token_hex(32).encode())
    processor_group, verifier_group = (
        f"{unique_prefix}liveness-processor",
        f"{unique_prefix}liveness-verifier",
    )
    asyncio.run(create_topics(kafka, verifier_group))
    p_port, v_port = free_ports(2)
    processor, verifier = start_workers(kafka, keys, tmp_path, [p_port, v_port])
    try:
        asyncio.run(wait_for_group(kafka_bootstrap, processor_group, 1, timeout_s=120))
        asyncio.run(wait_for_group(kafka_bootstrap, verifier_group, 1, timeout_s=120))
        idle = scrape(p_port)
        asyncio.run(publish_session(kafka, keys, astronaut_jpeg()))

        frames = wait_for(
            p_port, lambda s: total(s, "liveness_inference_seconds_count") >= FRAMES, 90, processor
        )
        decided = wait_for(v_port, lambda s: total(s, "liveness_decisions_total") >= 1, 90, verifier)
        lagging = wait_for(
            p_port,
            lambda s: (
                total(s, "liveness_consumer_lag_messages", topic=kafka.topics.frames) == 0
                and any(n == "liveness_consumer_lag_messages" for n, _ in s)
            ),
            40,
            processor,
        )
        health = (healthz_status(p_port), healthz_status(v_port))
    finally:
        processor.stop()
        verifier.stop()

    assert total(idle, "liveness_frames_consumed_total") == 0
    assert total(frames, "liveness_frames_consumed_total") == FRAMES
    assert total(frames, "liveness_frames_processed_total") == FRAMES
    assert total(frames, "liveness_observations_total", outcome="ok", reason="ONE_FACE") == FRAMES
    assert 0 < total(frames, "liveness_inference_seconds_sum") < FRAMES * 2.0
    assert total(frames, "liveness_worker_info", role="processor", group=processor_group) == 1
    assert total(decided, "liveness_decision_duration_seconds_count") >= 1
    assert total(decided, "liveness_open_sessions") == 0
    frame_partitions = {
        dict(keys)["partition"]
        for name, keys in lagging
        if name == "liveness_consumer_lag_messages" and dict(keys)["topic"] == kafka.topics.frames
    }
    assert frame_partitions == {"0", "1"}
    assert total(lagging, "liveness_event_loop_lag_seconds_count") > 0
    assert health == (200, 200)
    json_lines = [line for line in processor.log_path.read_text().splitlines() if line.startswith("{")]
    assert json_lines and all(
        {"ts", "level", "logger", "message"} <= orjson.loads(x).keys() for x in json_lines
    )
