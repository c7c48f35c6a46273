"""A decision's hops from the record timestamps: each hop ends where the next begins."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from benchmarks.hops import HOPS, child_pids, cpu_per_frame, cpu_spent_since, processor_children, session_hops
from benchmarks.measure import LatencyRun

SID = "s-1"


def record(ms: float, value: dict[str, Any] | None = None) -> SimpleNamespace:
    return SimpleNamespace(key=SID.encode(), timestamp=ms, value=orjson.dumps(value or {}))


def test_hops_follow_the_deciding_frame_to_the_watcher() -> None:
    # 40 frames acknowledged 100 ms apart (s); the decision used 30: frame 29 decided it.
    acked = {seq: 1000.0 + seq * 0.1 for seq in range(40)}
    runs = [(SID, acked, 1004.5)]
    seen = {SID: [SimpleNamespace(frames_used=30)]}
    start_ms = acked[29] * 1000
    observations = [
        record(start_ms - 100, {"kind": "observation", "session_id": SID, "seq": 28}),
        record(start_ms + 20, {"kind": "observation", "session_id": SID, "seq": 29}),
        record(start_ms - 900, {"kind": "identity_sample", "session_id": SID}),
        record(start_ms + 70, {"kind": "identity_sample", "session_id": SID}),
    ]
    requests = [record(start_ms - 950), record(start_ms + 27)]
    decisions = [record(start_ms + 78)]
    received = {SID: acked[29] + 0.083}

    (row,) = session_hops(LatencyRun(runs, received, seen), observations, requests, decisions)

    expected = {"frame": 20, "request": 7, "sample": 43, "decide": 8, "deliver": 5}
    assert {hop: round(row[hop]) for hop in HOPS} == expected
    assert row["total"] == pytest.approx(83, abs=0.01)


def test_a_session_decided_without_identity_has_empty_identity_hops() -> None:
    acked = {seq: 2000.0 + seq * 0.1 for seq in range(10)}
    runs = [(SID, acked, 2001.2)]
    seen = {SID: [SimpleNamespace(frames_used=5)]}
    start_ms = acked[4] * 1000
    observations = [record(start_ms + 15, {"kind": "observation", "session_id": SID, "seq": 4})]
    decisions = [record(start_ms + 24)]

    run = LatencyRun(runs, {SID: acked[4] + 0.03}, seen)

    (row,) = session_hops(run, observations, [], decisions)

    assert (round(row["frame"]), round(row["request"]), round(row["sample"])) == (15, 0, 0)
    assert round(row["decide"]) == 9 and round(row["deliver"]) == 6


def test_cpu_per_frame_gives_cores_and_ms_per_frame_and_their_total() -> None:
    rows = cpu_per_frame({"processor": 16.0, "verifier": 4.0}, elapsed_s=20.0, frames=1600)

    assert rows["processor"] == pytest.approx((0.8, 10.0))
    assert rows["verifier"] == pytest.approx((0.2, 2.5))
    assert rows["total"] == pytest.approx((1.0, 12.5))


def test_child_pids_finds_a_child_started_from_another_thread() -> None:
    # A child started from another thread has the process, not the thread, as its parent.
    started: list[subprocess.Popen[bytes]] = []
    done = threading.Event()

    def start_and_wait() -> None:
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
        done.wait(30)

    thread = threading.Thread(target=start_and_wait)
    thread.start()
    while not started:
        time.sleep(0.01)
    try:
        assert started[0].pid in child_pids(os.getpid())
    finally:
        done.set()
        thread.join()
        started[0].kill()
        started[0].wait()


def test_child_pids_finds_a_running_child() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            assert child.pid in child_pids(os.getpid())
        finally:
            child.kill()
    assert child.pid not in child_pids(os.getpid())


def sleeper(marker: str = "") -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time; {marker}=1; time.sleep(30)"])


def test_processor_children_names_the_resource_tracker_apart() -> None:
    tracker, network = sleeper("resource_tracker"), sleeper("spawn_main")
    try:
        named = processor_children(os.getpid())
        assert tracker.pid in {pid for name, pid in named.items() if name.startswith("resource tracker ")}
        assert network.pid in {pid for name, pid in named.items() if name.startswith("network ")}
    finally:
        for child in (tracker, network):
            child.kill()
            child.wait()


def test_cpu_spent_since_leaves_out_a_process_that_ended() -> None:
    child = sleeper()
    pids = {"bench": os.getpid(), "gone": child.pid}
    before = {"bench": 0.0, "gone": 0.0}
    child.kill()
    child.wait()

    spent = cpu_spent_since(pids, before)

    assert set(spent) == {"bench"} and spent["bench"] > 0
