"""A standing small corpus, generated with a fixed seed and judged offline: attacks fail, genuine pass.

Two sessions of every species (four photo-warp genuines) from real faces, run
through the real processor and verifier core. Each attack must fail for a reason
that belongs to it, so an attack stopped by accident (a crash, a timeout) does not
hide a check that stopped working. ``replay_blind`` is left out: whether a blind
replay lands on the new target is a matter of chance, measured by the full
evaluation (docs/evaluation.md), not a property a test can hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.evaluate import corpus_sessions, evaluate_offline
from evaluation.generator import ALL_SPECIES, generate_corpus, plan_counts
from evaluation.metrics import SessionResult
from evaluation.species import Studio
from liveness.media import fetch_media
from processors.landmarks import FaceAnalyzer

pytestmark = pytest.mark.slow

SEED = 2026
BPCER_ALLOWANCE = 0.02
STANDING_SPECIES = [name for name in ALL_SPECIES if name != "replay_blind"]

# The reasons each attack may fail for.
EXPECTED_REASONS: dict[str, set[str]] = {
    "static_photo": {"TIMEOUT"},
    "photo_translated": {"NO_ROTATION", "PLANAR_MOTION", "FACE_OUT_OF_AREA"},
    "photo_tilted": {"NO_ROTATION", "PLANAR_MOTION", "FACE_OUT_OF_AREA"},
    "photo_rolled": {"NO_ROTATION", "PLANAR_MOTION", "FACE_OUT_OF_AREA"},
    "turn_away": {"WRONG_DIRECTION"},
    "replay": {"WRONG_DIRECTION", "TIMEOUT"},
    "two_faces": {"MULTIPLE_FACES"},
    "no_face": {"NO_FACE", "FACE_OUT_OF_AREA"},
    "too_slow": {"TIMEOUT"},
    "spliced": {"DISCONTINUITY"},  # checked per variant below
    "corrupt_frames": {"SEQUENCE_GAP"},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    with FaceAnalyzer() as analyzer:
        studio = Studio.open(fetch_media(), analyzer)
        report = generate_corpus(out, plan_counts(2, 4, STANDING_SPECIES), SEED, studio)
    assert not report.failures
    return out


@pytest.fixture(scope="module")
def results(corpus: Path) -> Iterator[list[SessionResult]]:
    yield evaluate_offline(corpus_sessions(corpus))


def of(results: list[SessionResult], species: str) -> list[SessionResult]:
    chosen = [r for r in results if r.species == species]
    assert chosen, f"no {species} session in the corpus"
    return chosen


@pytest.mark.parametrize("species", [name for name in EXPECTED_REASONS if name != "spliced"])
def test_corpus_attack_species_rejected_for_its_reason(results: list[SessionResult], species: str) -> None:
    decided = [(r.session_id, r.outcome, r.reason) for r in of(results, species)]

    wrong = [d for d in decided if d[1] != "fail" or d[2] not in EXPECTED_REASONS[species]]
    assert not wrong, decided


def test_corpus_spliced_same_person_reframed_rejected_as_discontinuity(results: list[SessionResult]) -> None:
    spliced = [r for r in of(results, "spliced") if "+" not in r.person]

    assert spliced
    assert all((r.outcome, r.reason) == ("fail", "DISCONTINUITY") for r in spliced), spliced


@pytest.mark.xfail(
    strict=True,
    reason="landmark shape continuity (max_shape_jump) misses some cuts to another person at the same "
    "place: this corpus's cut from one face to another jumps 0.008, less than a genuine head "
    "(docs/evaluation.md, 'spliced'); remove this mark when identity continuity catches them",
)
def test_corpus_spliced_other_person_rejected(results: list[SessionResult]) -> None:
    spliced = [r for r in of(results, "spliced") if "+" in r.person]

    assert spliced
    assert all(r.outcome == "fail" for r in spliced)


def test_corpus_genuine_sessions_pass_within_bpcer_allowance(results: list[SessionResult]) -> None:
    genuine = [r for r in results if r.genuine]
    rejected = [(r.session_id, r.reason) for r in genuine if not r.accepted]

    assert len(genuine) == 6
    assert len(rejected) <= math.ceil(BPCER_ALLOWANCE * len(genuine)), rejected


def test_corpus_genuine_sessions_rejected_only_for_too_little_rotation(results: list[SessionResult]) -> None:
    rejected = [(r.session_id, r.reason) for r in results if r.genuine and not r.accepted]

    assert all(reason == "NO_ROTATION" for _, reason in rejected), rejected


def test_corpus_covers_every_standing_species_and_many_faces(results: list[SessionResult]) -> None:
    people = {person for r in results for person in r.person.split("+")}

    assert {r.species for r in results} == set(STANDING_SPECIES)
    assert len(people) >= 8
