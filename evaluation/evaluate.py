"""Runs a labelled corpus through the verifier (offline core, or Kafka) and writes the evaluation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import cast

import orjson

from evaluation import report, whatif
from evaluation.diagnostics import TappedAnalyzer, diagnostics
from evaluation.metrics import SessionResult
from liveness.replay import replay_offline
from processors.landmarks import FaceAnalyzer
from producers.recording import RecordedSession
from schemas.events import Decision
from verifier.settings import VerifierSettings

RESULTS = "results.jsonl"


def corpus_sessions(corpus: Path) -> list[RecordedSession]:
    """Every labelled recorded session directly under ``corpus``, in name order."""
    directories = sorted(path.parent for path in corpus.glob("*/session.json"))
    sessions = [RecordedSession.load(directory) for directory in directories]
    unlabelled = [s.session_id for s in sessions if not s.label]
    if unlabelled:
        raise ValueError(f"sessions without label.json cannot be scored: {', '.join(unlabelled[:5])}")
    return sessions


def result_of(
    recording: RecordedSession,
    decision: Decision,
    seconds: float = 0.0,
    diagnostics: dict[str, float | None] | None = None,
) -> SessionResult:
    label = recording.label or {}
    return SessionResult(
        session_id=recording.session_id,
        species=str(label["species"]),
        genuine=bool(label["genuine"]),
        person=str(label.get("person", "")),
        outcome=decision.outcome,
        reason=decision.reason,
        checks={check.name: check.value for check in decision.checks},
        source=str(label.get("source", "")),
        seconds=seconds,
        diagnostics=diagnostics or {},
    )


def evaluate_offline(
    sessions: Iterable[RecordedSession],
    settings: VerifierSettings | None = None,
    progress: Callable[[SessionResult], None] | None = None,
) -> list[SessionResult]:
    """Each session through ``replay_offline``: the real processor and verifier core, in-process."""
    results = []
    with FaceAnalyzer() as analyzer:
        for recording in sessions:
            started = time.perf_counter()
            tap = TappedAnalyzer(analyzer)
            decision = replay_offline(recording, cast(FaceAnalyzer, tap), settings)
            seconds = time.perf_counter() - started
            results.append(result_of(recording, decision, seconds, diagnostics(tap.analyses)))
            if progress:
                progress(results[-1])
    return results


def evaluate_streaming(
    sessions: Sequence[RecordedSession], timeout_s: float = 120.0, batch: int = 8
) -> list[SessionResult]:
    """Each session through Kafka (broker, processor and verifier workers must be running).

    Configuration comes from the ``LIVENESS_*`` environment, as for ``liveness replay``;
    sessions go in small concurrent batches so the processors are not flooded.
    """
    from liveness.config import kafka_from_env, token_keys_from_env
    from liveness.replay import replay_streaming

    kafka, keys = kafka_from_env(), token_keys_from_env()
    results = []
    for start in range(0, len(sessions), batch):
        chunk = list(sessions[start : start + batch])
        decisions = asyncio.run(replay_streaming(kafka, chunk, keys, timeout_s))
        results += [
            result_of(recording, decision) for recording, decision in zip(chunk, decisions, strict=True)
        ]
    return results


def write_evaluation(results: Sequence[SessionResult], out: Path, settings: VerifierSettings) -> str:
    """Writes results.jsonl, summary.json, table.md and the plots into ``out``; returns the markdown table."""
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS).write_bytes(b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in results))
    summary = report.summary(results, settings)
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    markdown = report.format_evaluation(results, settings)
    (out / "table.md").write_text(markdown)
    report.plot_distributions(results, settings, out)
    return markdown


def load_results(path: Path) -> list[SessionResult]:
    """Results written by an earlier evaluation (``results.jsonl``)."""
    return [SessionResult.from_dict(orjson.loads(line)) for line in path.read_bytes().splitlines() if line]


def write_what_if(
    sessions: Sequence[RecordedSession],
    results: Sequence[SessionResult],
    out: Path,
    settings: VerifierSettings,
) -> str:
    """Follows the sessions that reached the target past their first frame in it; writes what-if.{md,json}."""
    frames = whatif.follow_corpus(sessions, results, settings)
    outcomes = whatif.grid(results, frames)
    markdown = "\n\n".join(
        [
            "## What if the verifier decided at the best frame in the target",
            whatif.format_grid(outcomes),
        ]
    )
    (out / "what-if.md").write_text(markdown + "\n")
    data = {
        "best_values": whatif.best_values(frames, results),
        "policies": whatif.summary_rows(outcomes),
        "frames": {sid: [asdict(f) for f in measured] for sid, measured in frames.items()},
    }
    (out / "what-if.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return markdown
