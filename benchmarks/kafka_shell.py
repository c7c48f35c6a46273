"""What the processor's Kafka shell costs per frame at camera pace, with no inference:
``python -m benchmarks.kafka_shell [--fps 100] [--seconds 30] [--rounds 2]``.

At camera pace every frame arrives in a fetch of its own and its observation leaves in a send
of its own, so the shell's work per frame is not shared by a batch as it is on a backlog. This
measures that work for two shells side by side, each in a process of its own reading the same
paced load (22 KB records, the size of a 640-pixel frame, over 4 partitions) and writing a
300-byte record per frame, as the processor writes an observation:

- ``faust``: the workers' app (``runtime.faust_app``: ``WorkerApp``, the processor's options
  and linger, ``in_ready_batches`` of up to 8);
- ``plain``: one aiokafka consumer and producer in the process's own event loop, up to 8
  records per read, the same linger and acks, a commit every 2.8 s (Faust's default interval).

Each round runs both, in alternating order, on fresh topics; a shell's CPU is read from
``/proc`` between the moment it has answered a warm-up load and the moment it has answered
every measured frame. Uses the broker at ``$LIVENESS_BOOTSTRAP``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from benchmarks.measure import cpu_seconds
from liveness.topics_admin import delete_topics, ensure_topics
from runtime.settings import KafkaSettings, child_env, existing_bootstrap_from_env
from runtime.topics import TopicSpec

SHELLS = ("faust", "plain")
PARTITIONS = 4
FRAME_BYTES = 22_000
OBSERVATION_BYTES = 300
BATCH_MOST = 8
LINGER_S = 0.001  # the processor's (``ProcessorSettings.producer_linger_s``)
COMMIT_INTERVAL_S = 2.8
WARM_UP_S = 3.0


async def paced_send(bootstrap: str, topic: str, fps: float, seconds: float, first: int = 0) -> int:
    """``fps`` frame-sized records a second for ``seconds``, round robin over the partitions."""
    payload = os.urandom(FRAME_BYTES)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=-1, max_request_size=2 * FRAME_BYTES)
    await producer.start()
    try:
        count = int(fps * seconds)
        started = time.monotonic()
        for i in range(count):
            await asyncio.sleep(max(0.0, started + i / fps - time.monotonic()))
            index = first + i
            await producer.send(topic, payload, key=str(index).encode(), partition=index % PARTITIONS)
        await producer.flush()
        return count
    finally:
        await producer.stop()


async def until_answered(
    bootstrap: str, topic: str, count: int, timeout_s: float, server: subprocess.Popen[bytes]
) -> None:
    """Wait until ``topic`` holds ``count`` answers (the sum of its partitions' end offsets);
    fails at once if the shell's process ended."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        deadline = time.monotonic() + timeout_s
        while sum((await consumer.end_offsets(partitions)).values()) < count:
            if server.poll() is not None:
                raise RuntimeError(f"the shell exited ({server.returncode}) before answering")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the shell answered fewer than {count} records in {timeout_s:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


def shell_cpu_ms_per_frame(bootstrap: str, shell: str, fps: float, seconds: float) -> float:
    """One shell's process CPU per frame over a paced load, on topics of its own."""
    run = uuid.uuid4().hex[:8]
    frames, observations = f"shell-{run}-frames", f"shell-{run}-observations"
    command = [sys.executable, "-m", "benchmarks.kafka_shell", "--serve", shell, "--run", run]
    env = child_env({"LIVENESS_BOOTSTRAP": bootstrap})
    try:
        asyncio.run(ensure_topics(bootstrap, [TopicSpec(t, PARTITIONS) for t in (frames, observations)]))
        # Its output is kept in a file, not a pipe: a pipe nobody reads would block the shell.
        with (
            tempfile.TemporaryFile() as log,
            subprocess.Popen(command, env=env, stdout=log, stderr=log) as server,
        ):
            try:
                return _measure(bootstrap, server, frames, observations, fps, seconds)
            except RuntimeError as exc:
                log.seek(0)
                raise RuntimeError(f"{exc}: {log.read().decode(errors='replace')[-2000:]}") from None
            finally:
                _stop(server)
    finally:
        shutil.rmtree(faust_data_dir(run), ignore_errors=True)
        asyncio.run(delete_topics(bootstrap, [frames, observations]))


def _measure(
    bootstrap: str,
    server: subprocess.Popen[bytes],
    frames: str,
    observations: str,
    fps: float,
    seconds: float,
) -> float:
    warm = asyncio.run(paced_send(bootstrap, frames, fps, WARM_UP_S))
    asyncio.run(until_answered(bootstrap, observations, warm, 120, server))
    before = cpu_seconds(server.pid)
    sent = asyncio.run(paced_send(bootstrap, frames, fps, seconds, first=warm))
    if sent == 0:
        raise ValueError(f"{seconds} s at {fps} frames/s is not one frame")
    asyncio.run(until_answered(bootstrap, observations, warm + sent, 60, server))
    return (cpu_seconds(server.pid) - before) * 1000 / sent


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def faust_data_dir(run: str) -> Path:
    return Path(tempfile.gettempdir()) / f"shell-{run}-faust"


async def serve_plain(bootstrap: str, run: str) -> None:
    """The plain shell: read up to 8 frames, write an observation for each, commit now and then."""
    consumer = AIOKafkaConsumer(
        f"shell-{run}-frames",
        bootstrap_servers=bootstrap,
        group_id=f"shell-{run}-plain",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=-1, linger_ms=LINGER_S * 1000)
    await consumer.start()
    await producer.start()
    observation = b"o" * OBSERVATION_BYTES
    committed = time.monotonic()
    while True:
        batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH_MOST)
        for records in batches.values():
            for record in records:
                await producer.send(f"shell-{run}-observations", observation, key=record.key)
        if time.monotonic() - committed > COMMIT_INTERVAL_S:
            await consumer.commit()
            committed = time.monotonic()


def serve_faust(bootstrap: str, run: str) -> None:
    """The workers' shell, as the processor builds it, with a handler that only writes."""
    from runtime.faust_app import WorkerApp, common_app_options, in_ready_batches

    kafka = KafkaSettings(bootstrap=bootstrap)
    app = WorkerApp(
        f"shell-{run}-faust",
        datadir=str(faust_data_dir(run)),
        **common_app_options(kafka, None, LINGER_S),
    )
    frames = app.topic(f"shell-{run}-frames", key_type=bytes, value_type=bytes)
    observations = app.topic(f"shell-{run}-observations", key_type=bytes, value_type=bytes)
    observation = b"o" * OBSERVATION_BYTES

    @app.agent(frames)
    async def answer(stream: object) -> None:
        async def write(events: Sequence[object]) -> None:
            for event in events:
                await observations.send(key=event.message.key, value=observation)  # type: ignore[attr-defined]

        await in_ready_batches(stream, BATCH_MOST, write)  # type: ignore[arg-type]

    sys.argv = ["kafka_shell", "worker", "--loglevel", "warn", "--without-web"]
    app.main()


def main(argv: Sequence[str] | None = None) -> int:
    description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kafka_shell", description=description)
    parser.add_argument("--fps", type=float, default=100.0, help="frames a second (10 sessions: 100)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", choices=SHELLS, help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    bootstrap = existing_bootstrap_from_env()
    if bootstrap is None:
        raise SystemExit("LIVENESS_BOOTSTRAP is not set: a broker to run the shells against")
    if args.serve == "plain":
        asyncio.run(serve_plain(bootstrap, args.run))
    elif args.serve == "faust":
        serve_faust(bootstrap, args.run)
    else:
        for round_ in range(args.rounds):
            order = SHELLS if round_ % 2 == 0 else SHELLS[::-1]
            cost = {s: shell_cpu_ms_per_frame(bootstrap, s, args.fps, args.seconds) for s in order}
            print(
                f"round {round_ + 1} ({' then '.join(order)}), {args.fps:.0f} frames/s: "
                f"faust {cost['faust']:.2f}, plain {cost['plain']:.2f} CPU ms per frame "
                f"(faust / plain {cost['faust'] / cost['plain']:.2f})",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
