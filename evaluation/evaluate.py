"""Runs a labelled corpus through the verifier (offline core, or Kafka) and writes the evaluation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import orjson

from evaluation import report, whatif
from evaluation.diagnostics import TappedAnalyzer, diagnostics
from evaluation.metrics import SessionResult
from evaluation.offline import Judgement, ObservedRecording, judge
from liveness.replay import shared_identity_model
from processors.identity import IdentityStage
from processors.landmarks import FaceAnalyzer
from producers.recording import RecordedSession
from schemas.events import Decision
from verifier.settings import VerifierSettings

RESULTS = "results.jsonl"
BLIND_SPECIES = "replay_blind"


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
    seconds_from_framing: float | None = None,
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
        failed=tuple(check.name for check in decision.checks if not check.passed),
        seconds_from_framing=seconds_from_framing,
        frames_used=decision.frames_used,
    )


def blind_result(recording: RecordedSession, attempt: int, judgement: Judgement) -> SessionResult:
    """A blind replay of a genuine recording as an attack session of species ``replay_blind``."""
    targets = ", ".join(f"({b.centre[0]:.0f},{b.centre[1]:.0f})" for b in judgement.challenge.targets)
    target = judgement.challenge.nose
    drawn = targets or (f"({target.centre[0]:.0f},{target.centre[1]:.0f})" if target else "")
    decision = judgement.decision
    return SessionResult(
        session_id=f"{recording.session_id}~blind{attempt}",
        species=BLIND_SPECIES,
        genuine=False,
        person=str((recording.label or {}).get("person", "")),
        outcome=decision.outcome,
        reason=decision.reason,
        checks={check.name: check.value for check in decision.checks},
        source=f"frames of {recording.session_id}, {judgement.challenge.type} drawn by the service: {drawn}",
        failed=tuple(check.name for check in decision.checks if not check.passed),
    )


def evaluate_offline(
    sessions: Iterable[RecordedSession],
    settings: VerifierSettings | None = None,
    progress: Callable[[SessionResult], None] | None = None,
    blind_replays: int = 0,
    identity: bool = True,
) -> list[SessionResult]:
    """Each session through the real processor and verifier core, in-process.

    Each genuine recording is also replayed, frames unchanged, into ``blind_replays``
    fresh sessions whose challenge the product's challenge service draws (species
    ``replay_blind``); the frames are analysed once for all of them. ``identity``: answer
    the verifier's identity requests with the face model, as the processors do (False: no
    embeddings, so nothing passes unless the settings switch the identity check off).
    """
    settings = settings or VerifierSettings()
    results = []
    with FaceAnalyzer() as analyzer:
        stage = IdentityStage(analyzer, shared_identity_model()) if identity else None
        for recording in sessions:
            started = time.perf_counter()
            tap = TappedAnalyzer(analyzer)
            observed = ObservedRecording(recording, tap, stage)
            own = judge(observed, settings, challenge=recording.challenge)
            seconds = time.perf_counter() - started
            measured = diagnostics(list(tap.analyses))
            results.append(result_of(recording, own.decision, seconds, measured, own.seconds_from_framing))
            if progress:
                progress(results[-1])
            if not results[-1].genuine:
                continue
            for attempt in range(blind_replays):
                results.append(blind_result(recording, attempt, judge(observed, settings)))
    return results


def evaluate_streaming(
    sessions: Sequence[RecordedSession], timeout_s: float = 120.0, batch: int = 8
) -> list[SessionResult]:
    """Each session through Kafka (broker, processor and verifier workers must be running).

    Configuration comes from the ``LIVENESS_*`` environment, as for ``liveness replay``;
    sessions go in small concurrent batches so the processors are not flooded.
    """
    from liveness.replay import replay_streaming
    from runtime.settings import kafka_from_env, token_keys_from_env

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
