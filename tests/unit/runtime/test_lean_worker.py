"""The workers' garbage-collector settings (the direct delivery has its own module of tests)."""

from __future__ import annotations

import gc

from runtime.lean_worker import GC_THRESHOLDS, settle_garbage_collector

PYTHON_DEFAULT_THRESHOLDS = (700, 10, 10)


def test_settle_garbage_collector_freezes_what_is_held_and_collects_less_often() -> None:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(*PYTHON_DEFAULT_THRESHOLDS)
    held = [[index] for index in range(100)]  # containers the collector tracks
    assert gc.get_freeze_count() == 0 and gc.is_tracked(held[0])
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0
        # Frozen objects are left out of every pass, and out of the list the collector walks.
        walked = {id(o) for o in gc.get_objects()}
        assert not any(id(item) in walked for item in held)
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > PYTHON_DEFAULT_THRESHOLDS[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
