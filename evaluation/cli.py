"""The ``generate``, ``evaluate`` and ``contact-sheets`` commands: argument parsing and printing only."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from evaluation.generator import ALL_SPECIES, plan_counts
from verifier.settings import VerifierSettings

CHALLENGE_KINDS = ("nose_sequence", "nose")  # the challenges generated sessions can be made for

DEFAULT_CORPUS = Path("out/corpus")


def _species_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ALL_SPECIES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown species {', '.join(unknown)}; known: {', '.join(ALL_SPECIES)}"
        )
    return names


def generate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveness generate",
        description="Generate a labelled corpus of genuine and attack sessions from real faces "
        "(recorded-session directories with label.json). Deterministic for a seed.",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_CORPUS, help=f"corpus directory (default {DEFAULT_CORPUS})"
    )
    parser.add_argument(
        "--per-species",
        type=int,
        default=3,
        metavar="N",
        help="sessions per species other than genuine (default 3)",
    )
    parser.add_argument(
        "--genuine", type=int, default=6, metavar="N", help="photo-warp genuine sessions (default 6)"
    )
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument(
        "--species",
        type=_species_list,
        default=None,
        metavar="A,B,C",
        help=f"only these species (default all: {','.join(ALL_SPECIES)})",
    )
    parser.add_argument(
        "--challenge",
        choices=CHALLENGE_KINDS,
        default=CHALLENGE_KINDS[0],
        help="challenge the sessions are made for (default nose_sequence, three targets; "
        "nose: legacy single-target recordings)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="media cache (see 'liveness fetch-media')"
    )
    parser.add_argument("--quiet", action="store_true", help="do not print one line per session")
    return parser


def generate_main(argv: Sequence[str] | None = None) -> int:
    """``liveness generate``: write a corpus, print the time per session per species."""
    args = generate_parser().parse_args(argv)
    from devtools.media import MediaError, fetch_media
    from evaluation.generator import generate_corpus
    from evaluation.species import Studio
    from processors.landmarks import FaceAnalyzer

    try:
        media = fetch_media(args.cache_dir)
    except MediaError as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 1
    counts = plan_counts(args.per_species, args.genuine, args.species)
    with FaceAnalyzer() as analyzer:
        studio = Studio.open(media, analyzer, args.challenge)
        report = generate_corpus(
            args.out, counts, args.seed, studio, None if args.quiet else print, args.challenge
        )
    print(
        f"{len(report.sessions)} sessions in {args.out} ({report.total_s:.0f} s, {len(studio.people)} people)"
    )
    for species, seconds in report.seconds_per_session().items():
        print(f"  {species:18s} {seconds:6.2f} s/session")
    for failure in report.failures:
        print(f"  not generated: {failure}", file=sys.stderr)
    return 0


def with_overrides(settings: VerifierSettings, assignments: Sequence[str]) -> VerifierSettings:
    """``settings`` with ``NAME=VALUE`` assignments applied, each value of its field's type."""
    values: dict[str, Any] = {}
    defaults = {field.name: getattr(settings, field.name) for field in fields(settings)}
    for assignment in assignments:
        name, _, text = assignment.partition("=")
        if name not in defaults or not text:
            raise ValueError(f"not NAME=VALUE of a verifier setting: {assignment!r}")
        kind = type(defaults[name])
        if kind is bool:  # bool("False") is True
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"not a boolean: {assignment!r}")
            values[name] = text.lower() in ("true", "1")
        else:
            values[name] = kind(text)
    return replace(settings, **values)


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveness evaluate",
        description="Run every session of a labelled corpus through the verifier and report "
        "APCER per attack species and BPCER (ISO/IEC 30107-3 style), reasons, distributions and plots.",
    )
    parser.add_argument(
        "corpus", type=Path, metavar="CORPUS", help="directory of recorded sessions with label.json"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the evaluation (default CORPUS/evaluation)"
    )
    parser.add_argument(
        "--kafka",
        action="store_true",
        help="replay through the running pipeline (LIVENESS_* environment) instead of the in-process core",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="--kafka: seconds to wait per batch of decisions"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="offline: override a verifier setting, e.g. --set min_rotation_deg=8 (repeatable)",
    )
    parser.add_argument(
        "--blind-replays",
        type=int,
        default=6,
        metavar="N",
        help="offline: replay every genuine recording into N fresh sessions whose challenge the "
        "product's challenge service draws (species replay_blind; default 6)",
    )
    parser.add_argument(
        "--no-identity",
        action="store_true",
        help="offline: do not embed faces (judge landmarks only; use with --set identity_required=false)",
    )
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="also follow sessions past their first frame in the target: price deciding at the best frame",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print one line per session")
    return parser


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``liveness evaluate CORPUS``: decisions for every session, then the tables, plots and summary."""
    args = evaluate_parser().parse_args(argv)
    from evaluation.evaluate import (
        corpus_sessions,
        evaluate_offline,
        evaluate_streaming,
        write_evaluation,
        write_what_if,
    )
    from evaluation.metrics import SessionResult

    sessions = corpus_sessions(args.corpus)
    if not sessions:
        print(f"evaluate: no recorded sessions in {args.corpus}", file=sys.stderr)
        return 1
    try:
        settings = with_overrides(VerifierSettings(), args.set)
    except ValueError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2

    def show(result: SessionResult) -> None:
        if not args.quiet:
            print(f"{result.session_id}: {result.outcome} {result.reason}", file=sys.stderr)

    if args.kafka:
        results = evaluate_streaming(sessions, args.timeout)
    else:
        results = evaluate_offline(sessions, settings, show, args.blind_replays, not args.no_identity)
    out = args.out or args.corpus / "evaluation"
    print(write_evaluation(results, out, settings))
    if args.what_if:
        print("\n" + write_what_if(sessions, results, out, settings))
    print(f"\nwritten to {out}")
    return 0


def contact_sheets_main(argv: Sequence[str] | None = None) -> int:
    """``liveness contact-sheets CORPUS``: one PNG per species with a few frames, area and target drawn."""
    parser = argparse.ArgumentParser(prog="liveness contact-sheets", description=contact_sheets_main.__doc__)
    parser.add_argument("corpus", type=Path, metavar="CORPUS")
    parser.add_argument("--out", type=Path, default=Path("docs/contact-sheets"))
    parser.add_argument("--frames", type=int, default=5, help="frames per session (default 5)")
    args = parser.parse_args(argv)
    from evaluation.contact import write_contact_sheets

    for path in write_contact_sheets(args.corpus, args.out, args.frames):
        print(path)
    return 0


if __name__ == "__main__":
    commands = {"generate": generate_main, "evaluate": evaluate_main, "contact-sheets": contact_sheets_main}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: python -m evaluation.cli {{{','.join(commands)}}} ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]](sys.argv[2:]))
