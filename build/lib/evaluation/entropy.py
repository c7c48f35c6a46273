"""How often a blind replay meets a fresh challenge by chance, per challenge design (Monte Carlo).

A recording of a genuine session rests its nose where its own targets were. Replayed
into a session whose targets the server drew afresh, it passes only if every new
target (widened by the verifier's tolerance) holds the recorded rest point of the
same step. This is the geometric ceiling of blind-replay acceptance: the 3D checks
and the rests the recording makes elsewhere move the measured rate a little, which
the evaluation's ``replay_blind`` species measures on real recordings.

``python -m evaluation.entropy`` prints the table the README quotes.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence

from schemas.events import Box
from verifier.challenges.nose import NoseChallenge
from verifier.challenges.sequence import draw_targets
from verifier.settings import VerifierSettings

Design = Callable[[random.Random], tuple[Box, ...]]
WIDTH, HEIGHT = 640, 480


def single_target(rng: random.Random) -> tuple[Box, ...]:
    challenge = NoseChallenge().draw(rng, WIDTH, HEIGHT)
    assert challenge.nose is not None
    return (challenge.nose,)


def alternating(count: int) -> Design:
    return lambda rng: draw_targets(rng, WIDTH, HEIGHT, count)


def independent_sides(count: int) -> Design:
    """Each target's side drawn on its own (consecutive targets may share a side)."""

    def draw(rng: random.Random) -> tuple[Box, ...]:
        return tuple(draw_targets(rng, WIDTH, HEIGHT, 1)[0] for _ in range(count))

    return draw


DESIGNS: dict[str, Design] = {
    "1 target (45-90 px)": single_target,
    "2 targets, alternating sides": alternating(2),
    "3 targets, alternating sides": alternating(3),
    "3 targets, independent sides": independent_sides(3),
    "4 targets, alternating sides": alternating(4),
}


def acceptance(design: Design, trials: int, tolerance: float, seed: int = 0) -> float:
    """Share of (recording, fresh challenge) pairs where every fresh target holds the recorded rest."""
    rng = random.Random(seed)
    met = 0
    for _ in range(trials):
        recorded, fresh = design(rng), design(rng)
        met += all(
            box.widened(tolerance).contains_point(*rest.centre)
            for box, rest in zip(fresh, recorded, strict=True)
        )
    return met / trials


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.entropy", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200_000)
    args = parser.parse_args(argv)
    tolerance = VerifierSettings().nose_tolerance
    print(f"{'design':32} {'chance acceptance':>18}   ({args.trials:,} pairs, tolerance {tolerance:.0%})")
    for name, design in DESIGNS.items():
        print(f"{name:32} {acceptance(design, args.trials, tolerance):>18.4%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
