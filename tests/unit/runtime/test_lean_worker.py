"""The workers' garbage-collector settings (the direct delivery has its own module of tests)."""

from __future__ import annotations

import gc

from runtime.lean_worker import GC_THRESHOLDS, settle_garbage_collector


def test_settle_garbage_collector_freezes_what_is_held_and_collects_less_often() -> None:
    held = [object() for _ in range(10)]  # noqa: F841 - alive across the freeze
    thresholds = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0  # full passes skip these from now on
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > thresholds[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
