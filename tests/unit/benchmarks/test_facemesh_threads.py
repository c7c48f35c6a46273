"""The FaceMesh threading benchmark: both graphs on real frames, compared landmark for landmark."""

from __future__ import annotations

import multiprocessing
import resource
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.facemesh_threads import busy_cores, main, same_landmarks, summary


def test_same_landmarks_tells_one_changed_float() -> None:
    meshes = [[np.arange(9, dtype=np.float64).reshape(3, 3)], []]
    changed = [[meshes[0][0].copy()], []]
    changed[0][0][2, 1] += 1e-9

    assert same_landmarks(meshes, [[m.copy() for m in faces] for faces in meshes])
    assert not same_landmarks(meshes, changed)
    assert not same_landmarks(meshes, [meshes[0], [meshes[0][0]]])  # a face more in one frame


def test_summary_gives_mean_p50_p99() -> None:
    line = summary([1.0] * 98 + [10.0, 50.0])

    assert line == "mean  1.58  p50  1.00  p99 10.00 ms"


def test_busy_cores_spins_in_children_only_while_the_block_runs() -> None:
    others = len(multiprocessing.active_children())
    own, children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    with busy_cores(1):
        assert len(multiprocessing.active_children()) == others + 1
        time.sleep(1.0)
    spun = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - children  # counted once reaped

    assert len(multiprocessing.active_children()) == others
    assert spun > 0.05  # 4 ms of every 10 for 1 s is 0.4 s on a free core
    assert time.process_time() - own < spun  # the spinning was the child's, not this process's


@pytest.mark.slow
def test_main_runs_both_graphs_on_real_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--frames", "12", "--rounds", "1", "--busy", "1", "--work-dir", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "round 1  same landmarks: True" in out
    assert "default pool" in out and "one thread" in out
