"""The verifier worker's CPU per event at camera pace, for before/after runs:
``python -m benchmarks.verifier_paced [--lanes 8] [--seconds 40]``.

``benchmarks.verifier_worker`` measures a backlog, where a batch holds hundreds of events and
what is paid per batch (a fetch, a changelog send, a commit) is shared by all of them. At camera
pace a batch is one event and pays all of it alone. Here ``lanes`` sessions send their
observations at 10 per second each, straight to the verifier's input (no processor, so only
the verifier and the broker use the cores), and the worker's CPU is read from ``/proc`` over
``seconds`` (from the worker's readiness: its start-up work after joining the group, the
session starts and the ticks are in the CPU, and only the observations are counted as events).
``committed`` is how many of them the worker had committed by the end. Uses the broker at
``$LIVENESS_BOOTSTRAP``; run it with ``PYTHONPATH`` at one checkout, then at the other.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks import measure
from benchmarks.frames import genuine_recordings
from producers.challenge_service import ChallengeService
from producers.recording import RecordedSession
from runtime.settings import KafkaSettings, existing_bootstrap_from_env
from schemas.clock import now_ms
from schemas.codec import encode
from schemas.events import Observation


async def paced_load(
    kafka: KafkaSettings,
    service: ChallengeService,
    recording: RecordedSession,
    template: Sequence[Observation],
    lanes: int,
    seconds: float,
) -> int:
    """``lanes`` sessions after one another per lane, an observation every 100 ms; the count sent."""
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all", linger_ms=1)
    await producer.start()
    stop_at = time.monotonic() + seconds
    sent = 0

    async def lane(index: int) -> None:
        nonlocal sent
        await asyncio.sleep(index * measure.FRAME_PERIOD_S / lanes)
        while time.monotonic() < stop_at:
            started = service.start(now_ms(), challenge=recording.challenge, session_id=uuid.uuid4().hex)
            key = started.session_id.encode()
            await producer.send_and_wait(kafka.topics.sessions, encode(started), key=key)
            begin = time.monotonic()
            for turn, observation in enumerate(template):
                await asyncio.sleep(max(0.0, begin + turn * measure.FRAME_PERIOD_S - time.monotonic()))
                if time.monotonic() >= stop_at:
                    return
                at = now_ms()
                stamped = replace(
                    observation, session_id=started.session_id, captured_at_ms=at, received_at_ms=at
                )
                await producer.send_and_wait(kafka.topics.observations, encode(stamped), key=key)
                sent += 1

    try:
        await asyncio.gather(*(lane(i) for i in range(lanes)))
    finally:
        await producer.stop()
    return sent


async def observations_committed(kafka: KafkaSettings, group: str, sent: int, timeout_s: float = 30.0) -> int:
    """The observations ``group`` has committed, once that reaches ``sent`` (or at the timeout):
    proof that the worker handled the load, not only that it was sent."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            offsets = await admin.list_consumer_group_offsets(group)
            committed = sum(
                meta.offset
                for tp, meta in offsets.items()
                if tp.topic == kafka.topics.observations and meta.offset > 0
            )
            if committed >= sent or time.monotonic() > deadline:
                return committed
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--work-dir", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    bootstrap = existing_bootstrap_from_env()
    if bootstrap is None:
        raise SystemExit("LIVENESS_BOOTSTRAP is not set: a broker to run the verifier against")
    recording = genuine_recordings(args.work_dir / "sessions", 1)[0]
    template = measure.observations_of(recording)
    bench = measure.Bench(bootstrap, args.work_dir)
    with bench.stack(0, 0) as stack:
        worker = stack.add_worker("verifier", 0)
        stack.wait_ready()
        service = ChallengeService(stack.keys)
        cpu_before = measure.cpu_seconds(worker.pid)
        events = asyncio.run(paced_load(stack.kafka, service, recording, template, args.lanes, args.seconds))
        cpu = measure.cpu_seconds(worker.pid) - cpu_before
        handled = asyncio.run(observations_committed(stack.kafka, stack.verifier_app_id, events))
    return {
        "lanes": float(args.lanes),
        "events": float(events),
        "committed": float(handled),
        "cpu_ms_per_event": cpu / events * 1000 if events else float("nan"),
        "cores": cpu / args.seconds,
    }


if __name__ == "__main__":
    print(main())
