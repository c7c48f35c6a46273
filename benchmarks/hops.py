"""Where a decision's time goes, hop by hop, at one load: ``python -m benchmarks.hops``.

Runs ``concurrent`` sessions at 10 fps on one processor and one verifier (as ``liveness bench``'s
latency sweep does, lanes spread over the frame period), then reads back the record timestamps
of the observations, identity requests and decisions of every session. For each session, from
the moment the deciding frame was acknowledged to the producer to the decision's arrival:

- ``frame``: until the processor sent that frame's observation (fetch, queue, FaceMesh);
- ``request``: until the verifier sent the last identity request (the pass was seen);
- ``sample``: until the processor sent that request's sample (fetch, queue, embedding);
- ``decide``: until the verifier sent the decision;
- ``deliver``: until the decision reached the watcher.

Every process runs on this machine, so the clocks agree. ``--top`` prints the slowest sessions.

It also prints what each process spent meanwhile, in cores and in CPU ms per frame sent: the
two workers, the processor's network processes, this process (the cameras and the decision
watcher) and, with ``--broker-pid-file``, the broker. At camera pace a frame travels alone, so
it costs more than on a backlog, where the Kafka clients' work is shared by a batch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from benchmarks.frames import genuine_recordings
from benchmarks.measure import Bench, LatencyRun, cpu_seconds, latency_run, percentile
from producers.challenge_service import ChallengeService
from runtime.settings import KafkaSettings

HOPS = ("frame", "request", "sample", "decide", "deliver")


async def _records(kafka: KafkaSettings, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, **kafka.client_options(), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Any] = []
    try:
        while batches := await consumer.getmany(timeout_ms=1500):
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def session_hops(
    run: LatencyRun, observations: Sequence[Any], requests: Sequence[Any], decisions: Sequence[Any]
) -> list[dict[str, float]]:
    """Each session's hops (ms) from the records' timestamps (ms since the epoch)."""
    observed: dict[tuple[str, int], float] = {}
    sampled: dict[str, float] = {}
    for record in observations:
        data = orjson.loads(record.value)
        if data.get("kind") == "observation":
            observed[(data["session_id"], data["seq"])] = record.timestamp / 1000
        elif data.get("kind") == "identity_sample":
            sampled[data["session_id"]] = max(sampled.get(data["session_id"], 0.0), record.timestamp / 1000)
    asked: dict[str, float] = {}
    for record in requests:
        sid = record.key.decode()
        asked[sid] = max(asked.get(sid, 0.0), record.timestamp / 1000)
    decided = {record.key.decode(): record.timestamp / 1000 for record in decisions}
    rows = []
    for session in run.runs:
        session_id = session[0]
        start = run.deciding_ack(session)
        frame = observed.get((session_id, run.decisions[session_id][0].frames_used - 1), start)
        # A session decided without an identity sample has empty identity hops.
        request = max(asked.get(session_id, frame), frame)
        sample = max(sampled.get(session_id, request), request)
        marks = [start, frame, request, sample, decided[session_id], run.received[session_id]]
        row = {hop: (marks[i + 1] - marks[i]) * 1000 for i, hop in enumerate(HOPS)}
        rows.append({**row, "total": (marks[-1] - start) * 1000})
    return rows


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started that still run (for the processor: its network processes and
    multiprocessing's resource tracker), from whichever of its threads started them, found by the
    parent pid in each process's ``stat``.

    ``/proc/<pid>/task/<tid>/children`` would be shorter, but the kernel documents it as
    unreliable while other children come and go, and a test run has many.
    """
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # The command name in parentheses may hold spaces; the state and the parent pid follow it.
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == pid and state != "Z":
            children.append(int(entry.name))
    return sorted(children)


# What a processor child's command line holds, and what the child is.
CHILD_KINDS = {b"spawn_main": "network", b"resource_tracker": "resource tracker"}


def processor_children(pid: int) -> dict[str, int]:
    """The processor's child processes by what they are: its face-network processes (started by
    multiprocessing's spawn), multiprocessing's resource tracker (which starts with them and stays
    idle), and any other child, each numbered: ``network 1``, ``resource tracker 1``, ``child 1``."""
    named: dict[str, int] = {}
    for child in child_pids(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        kind = next((name for marker, name in CHILD_KINDS.items() if marker in command), "child")
        named[f"{kind} {sum(name.startswith(kind) for name in named) + 1}"] = child
    if not named:
        print(f"no child processes found for {pid}: the network processes' CPU is not counted")
    return named


def cpu_spent_since(pids: dict[str, int], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process spent since ``before``; a process that ended meanwhile (a network
    process replaced after a failure) is left out, and said so."""
    spent = {}
    for name, pid in pids.items():
        try:
            spent[name] = cpu_seconds(pid) - before[name]
        except OSError:
            print(f"{name} (pid {pid}) ended during the run: its CPU is not counted")
    return spent


def cpu_per_frame(spent_s: dict[str, float], elapsed_s: float, frames: int) -> dict[str, tuple[float, float]]:
    """Each process's CPU seconds over a run as ``(cores, CPU ms per frame)``, and their ``total``."""
    rows = {name: (spent / elapsed_s, spent * 1000 / frames) for name, spent in spent_s.items()}
    total = sum(spent_s.values())
    return {**rows, "total": (total / elapsed_s, total * 1000 / frames)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hops", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8, help="concurrent sessions at 10 fps [8]")
    parser.add_argument("--rounds", type=int, default=3, help="sessions each lane runs in turn [3]")
    parser.add_argument("--bootstrap", required=True, help="a running broker")
    parser.add_argument("--broker-pid-file", type=Path, help="the broker's pid file, to count its CPU too")
    parser.add_argument("--work-dir", type=Path, default=Path("out/bench"))
    parser.add_argument("--top", type=int, default=5, help="slowest sessions to list [5]")
    args = parser.parse_args(argv)
    bench = Bench(args.bootstrap, args.work_dir)
    recordings = genuine_recordings(args.work_dir / "sessions", 12)
    with bench.stack(1, 1) as stack:
        service = ChallengeService(stack.keys)
        asyncio.run(latency_run(stack.kafka, service, recordings, 1, 1))  # warm-up
        pids = {w.role: w.pid for w in stack.workers}
        pids |= processor_children(pids["processor"])
        pids["bench"] = os.getpid()
        if args.broker_pid_file:
            pids["broker"] = int(args.broker_pid_file.read_text().split()[0])
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        began = time.time()
        run = asyncio.run(latency_run(stack.kafka, service, recordings, args.sessions, args.rounds))
        elapsed = time.time() - began
        spent = cpu_spent_since(pids, cpu)
        topics = stack.kafka.topics
        records = [
            asyncio.run(_records(stack.kafka, t))
            for t in (topics.observations, topics.identity_requests, topics.decisions)
        ]
    rows = session_hops(run, *records)
    frames = sum(len(acked) for _, acked, _ in run.runs)
    print(f"{args.sessions} sessions x{args.rounds}: {len(rows)} decisions, {frames} frames, {elapsed:.0f} s")
    for name, (cores, ms) in cpu_per_frame(spent, elapsed, frames).items():
        print(f"  {name:10} {cores:5.2f} cores  {ms:6.2f} CPU ms/frame")
    for name in (*HOPS, "total"):
        values = [row[name] for row in rows]
        print(
            f"{name:8} p50 {percentile(values, 50):6.0f}  p90 {percentile(values, 90):6.0f}"
            f"  p99 {percentile(values, 99):6.0f}  max {max(values):6.0f} ms"
        )
    for row in sorted(rows, key=lambda r: -r["total"])[: args.top]:
        print("  slow:", "  ".join(f"{k} {v:.0f}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
