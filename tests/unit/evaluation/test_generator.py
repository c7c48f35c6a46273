"""The corpus generator: deterministic for a seed, labelled, in the recorded-session format."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.media import fetch_media
from evaluation.generator import ALL_SPECIES, MANIFEST, generate_corpus, plan_counts, session_draw
from evaluation.species import ATTACK_SPECIES, GENUINE_SPECIES, Studio
from processors.landmarks import FaceAnalyzer
from producers.recording import RecordedSession

COUNTS = {"genuine": 1, "photo_tilted": 1, "corrupt_frames": 1}


@pytest.fixture(scope="module")
def studio() -> Iterator[Studio]:
    with FaceAnalyzer() as analyzer:
        yield Studio.open(fetch_media(), analyzer)


def digests(corpus: Path) -> dict[str, str]:
    """SHA-256 of every file of a corpus but the timing, which is the one thing allowed to differ."""
    return {
        str(path.relative_to(corpus)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(corpus.rglob("*"))
        if path.is_file() and path.name != "generation-timing.json"
    }


@pytest.fixture(scope="module")
def corpus(studio: Studio, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, COUNTS, 11, studio)
    return out


def test_generate_corpus_same_seed_writes_identical_files(
    studio: Studio, corpus: Path, tmp_path: Path
) -> None:
    generate_corpus(tmp_path, COUNTS, 11, studio)

    assert digests(tmp_path) == digests(corpus)


def test_generate_corpus_other_seed_writes_other_frames(studio: Studio, corpus: Path, tmp_path: Path) -> None:
    generate_corpus(tmp_path, {"genuine": 1}, 12, studio)

    first = RecordedSession.load(next(corpus.glob("genuine-*")))
    other = RecordedSession.load(next(tmp_path.glob("genuine-*")))
    assert first.challenge != other.challenge or first.frames[-1].jpeg() != other.frames[-1].jpeg()


def test_generate_corpus_sessions_load_with_labels(corpus: Path) -> None:
    sessions = {
        s.session_id: s
        for s in map(RecordedSession.load, sorted(p.parent for p in corpus.glob("*/session.json")))
    }

    assert set(sessions) == {"genuine-000-s11", "photo_tilted-000-s11", "corrupt_frames-000-s11"}
    genuine = sessions["genuine-000-s11"]
    assert genuine.label is not None
    assert set(genuine.label) == {"genuine", "species", "source", "person"}
    assert genuine.label["genuine"] is True
    assert sessions["photo_tilted-000-s11"].label == {
        **sessions["photo_tilted-000-s11"].label,
        "genuine": False,
    }
    assert (genuine.challenge.image_width, genuine.challenge.image_height) == (640, 480)
    assert (corpus / MANIFEST).is_file()


def test_generate_corpus_capture_times_about_ten_fps(corpus: Path) -> None:
    session = RecordedSession.load(corpus / "genuine-000-s11")

    times = [frame.captured_at_ms for frame in session.frames]
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(steps) >= 80
    assert max(steps) <= 120
    assert times[0] > session.issued_at_ms


def test_generate_corpus_corrupt_frames_more_than_verifier_forgives(corpus: Path) -> None:
    session = RecordedSession.load(corpus / "corrupt_frames-000-s11")

    unreadable = [f for f in session.frames if not f.jpeg().endswith(b"\xff\xd9")]
    assert len(unreadable) > 8


def test_session_draw_same_key_same_numbers() -> None:
    first, second = session_draw(5, "replay", 3), session_draw(5, "replay", 3)

    assert first.rng.random() == second.rng.random()
    assert first.np.random() == second.np.random()
    assert session_draw(5, "replay", 4).np.random() != session_draw(5, "replay", 3).np.random()


def test_plan_counts_genuine_count_apart_from_the_rest() -> None:
    counts = plan_counts(per_species=2, genuine=5)

    assert counts["genuine"] == 5
    assert all(counts[name] == 2 for name in ALL_SPECIES if name != "genuine")
    assert set(counts) == {*GENUINE_SPECIES, *ATTACK_SPECIES}


def test_plan_counts_unknown_species_raises() -> None:
    with pytest.raises(ValueError, match="unknown species"):
        plan_counts(1, 1, ["genuine", "hologram"])
