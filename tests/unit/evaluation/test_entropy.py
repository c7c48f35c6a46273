"""The chance that a blind replay meets a fresh challenge, per design: more targets, less chance."""

from __future__ import annotations

from evaluation.entropy import DESIGNS, acceptance
from verifier.settings import VerifierSettings

TOLERANCE = VerifierSettings().nose_tolerance


def test_entropy_single_target_met_by_chance_often() -> None:
    assert acceptance(DESIGNS["1 target (45-90 px)"], 20_000, TOLERANCE) > 0.05


def test_entropy_three_alternating_targets_below_the_goal() -> None:
    # The goal is 0.5% measured; the geometric chance must leave room for the rests a recording
    # makes outside its targets (measured 12.5% through the gateway against 8% geometric).
    assert acceptance(DESIGNS["3 targets, alternating sides"], 50_000, TOLERANCE) < 0.003


def test_entropy_each_target_divides_the_chance() -> None:
    rates = [
        acceptance(DESIGNS[f"{n} targets, alternating sides"], 50_000, TOLERANCE, seed=1) for n in (2, 3)
    ]
    assert rates[1] < rates[0] / 3
