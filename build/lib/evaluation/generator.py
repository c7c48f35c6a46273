"""Writes a labelled corpus of recorded sessions, deterministic for a seed."""

from __future__ import annotations

import hashlib
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from evaluation.species import ATTACK_SPECIES, GENUINE_SPECIES, SPECIES, Draft, Draw, Studio
from producers.recording import write_session

ALL_SPECIES = (*GENUINE_SPECIES, *ATTACK_SPECIES)
# A fixed, far-from-now epoch keeps the written files identical from run to run; replay
# re-bases every session on its own clock anyway.
EPOCH_MS = 1_800_000_000_000
MANIFEST = "corpus.json"


@dataclass
class GenerationReport:
    """What a generation run wrote and how long each species took (the timing is not deterministic)."""

    sessions: list[str] = field(default_factory=list)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def seconds_per_session(self) -> dict[str, float]:
        return {species: round(sum(t) / len(t), 3) for species, t in self.seconds.items() if t}

    @property
    def total_s(self) -> float:
        return sum(sum(t) for t in self.seconds.values())


def session_draw(seed: int, species: str, index: int, kind: str = "nose_sequence") -> Draw:
    """The random sources of session ``index`` of ``species``: independent of every other session.

    ``kind`` is the challenge type the session is made for (``nose_sequence``, or ``nose``
    for the legacy single-target recordings).
    """
    key = f"{seed}/{species}/{index}"
    digest = hashlib.sha256(key.encode()).digest()
    offset = ALL_SPECIES.index(species) if species in ALL_SPECIES else 0
    # Persons go round robin from a per-species offset, so small corpora still cover many faces.
    return Draw(
        random.Random(key), np.random.default_rng(int.from_bytes(digest[:8], "big")), index, 3 * offset, kind
    )


def plan_counts(per_species: int, genuine: int, species: Sequence[str] | None = None) -> dict[str, int]:
    """How many sessions of each species: ``genuine`` photo-warp genuines, ``per_species`` of the others."""
    chosen = list(species) if species else list(ALL_SPECIES)
    unknown = [name for name in chosen if name not in SPECIES]
    if unknown:
        raise ValueError(f"unknown species {unknown}; known: {', '.join(ALL_SPECIES)}")
    return {name: genuine if name == "genuine" else per_species for name in chosen}


def session_id(species: str, index: int, seed: int) -> str:
    return f"{species}-{index:03d}-s{seed}"


def write_draft(out: Path, draft: Draft, sid: str, issued_at_ms: int, first_frame_ms: int) -> Path:
    """One session directory, replacing any earlier one of the same id (stale frames included)."""
    shutil.rmtree(out / sid, ignore_errors=True)
    frames = [(issued_at_ms + first_frame_ms + t, data) for t, data in draft.frames]
    return write_session(out / sid, sid, draft.challenge, issued_at_ms, frames, label=draft.label())


def generate_corpus(
    out: Path,
    counts: Mapping[str, int],
    seed: int,
    studio: Studio,
    progress: Callable[[str], None] | None = None,
    kind: str = "nose_sequence",
) -> GenerationReport:
    """Generate ``counts[species]`` sessions of each species into ``out`` for challenges of ``kind``."""
    out.mkdir(parents=True, exist_ok=True)
    report = GenerationReport()
    for species, count in counts.items():
        number = ALL_SPECIES.index(species)
        for index in range(count):
            sid = session_id(species, index, seed)
            started = time.perf_counter()
            draw = session_draw(seed, species, index, kind)
            try:
                draft = SPECIES[species](studio, draw)
            except ValueError as exc:  # SceneError: this photo/window could not make the session
                report.failures.append(f"{sid}: {exc}")
                continue
            issued_at_ms = EPOCH_MS + (number * 1000 + index) * 60_000
            write_draft(out, draft, sid, issued_at_ms, int(draw.np.integers(200, 800)))
            report.seconds.setdefault(species, []).append(time.perf_counter() - started)
            report.sessions.append(sid)
            if progress:
                progress(f"{sid}: {len(draft.frames)} frames, {report.seconds[species][-1]:.2f} s")
    _write_manifest(out, counts, seed, report, kind)
    return report


def _write_manifest(
    out: Path, counts: Mapping[str, int], seed: int, report: GenerationReport, kind: str
) -> None:
    """The corpus manifest; a run that adds species to a corpus of the same seed extends it."""
    path = out / MANIFEST
    earlier = orjson.loads(path.read_bytes()) if path.is_file() else {}
    if earlier.get("seed") != seed:
        earlier = {}
    manifest = {
        "seed": seed,
        "challenge": kind,
        "counts": {**earlier.get("counts", {}), **counts},
        "sessions": sorted({*earlier.get("sessions", []), *report.sessions}),
        "failures": report.failures,
    }
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    timing = {"seconds_per_session": report.seconds_per_session(), "total_s": round(report.total_s, 1)}
    (out / "generation-timing.json").write_bytes(orjson.dumps(timing, option=orjson.OPT_INDENT_2))
