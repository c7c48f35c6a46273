"""The analysts' view of decisions: tail them in a terminal, export them to Parquet, report on them in HTML.

Pure parts (filters, row layout, offsets to resume from, the summary, the HTML)
are plain functions; the Kafka, file and plotting shells call them. Readers use
``read_committed``, which costs nothing: the verifier writes no transactions (it is
at-least-once with a deduplicated decision emission, docs/reliability.md), so
every decision record is committed.

An export directory holds ``part-*.parquet`` files and ``_checkpoint.json``
(the next offset of every partition, and the files it covers). Every row also
carries its Kafka partition and offset, so a run that stopped between writing a
file and the checkpoint resumes from the files themselves: nothing is exported
twice and nothing is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import html
import io
import logging
import os
import sys
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from runtime.settings import KafkaSettings
from schemas.codec import decode_decision
from schemas.errors import LivenessError, SchemaError
from schemas.events import SCHEMA_VERSION, Decision

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "_checkpoint.json"
PART_GLOB = "part-*.parquet"
# A poll that brings nothing for this long means the reader has caught up (or the topic is idle).
DEFAULT_IDLE_EXIT_S = 5.0


class AnalyticsError(LivenessError):
    """An export directory or report input that cannot be used as asked."""

    reason_code = "ANALYTICS"


# ---- pure: filters and terminal lines ----------------------------------------------------


@dataclass(frozen=True)
class DecisionFilter:
    """Which decisions to show; an empty set lets every value through."""

    outcomes: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    challenge_types: frozenset[str] = frozenset()

    def matches(self, decision: Decision) -> bool:
        return (
            (not self.outcomes or decision.outcome in self.outcomes)
            and (not self.reasons or decision.reason in self.reasons)
            and (not self.challenge_types or decision.challenge_type in self.challenge_types)
        )


def format_time_ms(at_ms: int) -> str:
    """``2026-11-26T06:47:01.123Z``: UTC, millisecond precision."""
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def format_decision(decision: Decision) -> str:
    """One terminal line per decision: when, verdict, reason, challenge, frames, duration, session."""
    failed = [check.name for check in decision.checks if not check.passed]
    duration_s = (decision.decided_at_ms - decision.started_at_ms) / 1000
    line = (
        f"{format_time_ms(decision.decided_at_ms)}  {decision.outcome.upper():4}  {decision.reason:20}  "
        f"{decision.challenge_type:6}  frames {decision.frames_used:>3}/{decision.frames_ignored:<3} "
        f"{duration_s:6.1f} s  {decision.session_id}"
    )
    return line + (f"  failed: {', '.join(failed)}" if failed else "")


# ---- pure: the Parquet row and where to resume -------------------------------------------


def decision_row(decision: Decision, partition: int, offset: int, timestamp_ms: int) -> dict[str, Any]:
    """A decision as one row of the export, with the Kafka coordinates it was read from."""
    return {
        "session_id": decision.session_id,
        "v": SCHEMA_VERSION,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "challenge_type": decision.challenge_type,
        "frames_used": decision.frames_used,
        "frames_ignored": decision.frames_ignored,
        "started_at_ms": decision.started_at_ms,
        "decided_at_ms": decision.decided_at_ms,
        "started_at": datetime.fromtimestamp(decision.started_at_ms / 1000, UTC),
        "decided_at": datetime.fromtimestamp(decision.decided_at_ms / 1000, UTC),
        "latency_ms": decision.decided_at_ms - decision.started_at_ms,
        "checks": [check.to_dict() for check in decision.checks],
        "kafka_partition": partition,
        "kafka_offset": offset,
        "kafka_timestamp_ms": timestamp_ms,
    }


def resume_offsets(*sources: Mapping[int, int]) -> dict[int, int]:
    """The next offset to read per partition: the furthest any source (checkpoint, files) got."""
    merged: dict[int, int] = {}
    for source in sources:
        for partition, offset in source.items():
            merged[partition] = max(offset, merged.get(partition, 0))
    return merged


def next_offsets_of(partitions: Iterable[int], offsets: Iterable[int]) -> dict[int, int]:
    """One past the highest offset seen per partition, from the row columns of an export file."""
    result: dict[int, int] = {}
    for partition, offset in zip(partitions, offsets, strict=True):
        result[partition] = max(offset + 1, result.get(partition, 0))
    return result


# ---- files: Parquet parts and the checkpoint ---------------------------------------------


def decision_schema() -> Any:
    """The Arrow schema of an export file (``docs/decisions-schema.md`` describes each column)."""
    import pyarrow as pa

    check = pa.struct(
        [("name", pa.string()), ("value", pa.float64()), ("threshold", pa.float64()), ("passed", pa.bool_())]
    )
    return pa.schema(
        [
            ("session_id", pa.string()),
            ("v", pa.int16()),
            ("outcome", pa.string()),
            ("reason", pa.string()),
            ("challenge_type", pa.string()),
            ("frames_used", pa.int32()),
            ("frames_ignored", pa.int32()),
            ("started_at_ms", pa.int64()),
            ("decided_at_ms", pa.int64()),
            ("started_at", pa.timestamp("ms", tz="UTC")),
            ("decided_at", pa.timestamp("ms", tz="UTC")),
            ("latency_ms", pa.int64()),
            ("checks", pa.list_(check)),
            ("kafka_partition", pa.int32()),
            ("kafka_offset", pa.int64()),
            ("kafka_timestamp_ms", pa.int64()),
        ]
    )


@dataclass
class Checkpoint:
    """What an export directory already holds: next offsets per partition, and the files covered."""

    topic: str
    offsets: dict[int, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        data = {
            "topic": self.topic,
            "offsets": {str(p): o for p, o in sorted(self.offsets.items())},
            "files": self.files,
        }
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        data = orjson.loads(raw)
        offsets = {int(p): int(o) for p, o in data["offsets"].items()}
        return cls(topic=data["topic"], offsets=offsets, files=list(data["files"]))


def _replace_atomically(path: Path, content: bytes) -> None:
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_bytes(content)
    os.replace(scratch, path)


def load_checkpoint(out_dir: Path, topic: str) -> Checkpoint:
    """The directory's checkpoint, brought forward by any part file it does not list yet."""
    path = out_dir / CHECKPOINT_NAME
    checkpoint = Checkpoint.from_json(path.read_bytes()) if path.is_file() else Checkpoint(topic)
    if checkpoint.topic != topic:
        raise AnalyticsError(f"{out_dir} holds an export of {checkpoint.topic!r}, not {topic!r}")
    import pyarrow.parquet as pq

    for part in sorted(out_dir.glob(PART_GLOB)):
        if part.name in checkpoint.files:
            continue
        columns = pq.read_table(part, columns=["kafka_partition", "kafka_offset"]).to_pydict()
        found = next_offsets_of(columns["kafka_partition"], columns["kafka_offset"])
        checkpoint.offsets = resume_offsets(checkpoint.offsets, found)
        checkpoint.files.append(part.name)
    return checkpoint


def write_part(out_dir: Path, rows: Sequence[dict[str, Any]], now_ms: int) -> Path:
    """Write rows as a new part file (via a temporary name, so a crash leaves no half file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = min((row["kafka_partition"], row["kafka_offset"]) for row in rows)
    path = out_dir / f"part-{now_ms}-p{first[0]}-o{first[1]}.parquet"
    scratch = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(list(rows), schema=decision_schema()), scratch)
    os.replace(scratch, path)
    return path


def write_checkpoint(out_dir: Path, checkpoint: Checkpoint) -> None:
    _replace_atomically(out_dir / CHECKPOINT_NAME, checkpoint.to_json())


def load_decision_rows(in_dir: Path) -> list[dict[str, Any]]:
    """Every exported decision of a directory, one per session (the first, should a run have repeated)."""
    import pyarrow.parquet as pq

    parts = sorted(in_dir.glob(PART_GLOB))
    if not parts:
        raise AnalyticsError(f"no {PART_GLOB} files in {in_dir}: run 'liveness decisions export' first")
    rows: dict[str, dict[str, Any]] = {}
    for part in parts:
        for row in pq.read_table(part).to_pylist():
            rows.setdefault(row["session_id"], row)
    return sorted(rows.values(), key=lambda row: row["decided_at_ms"])


# ---- Kafka: tail and export --------------------------------------------------------------


def _consumer(kafka: KafkaSettings, *topics: str, latest: bool = False) -> Any:
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(
        *topics,
        **kafka.client_options(),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest" if latest else "earliest",
        isolation_level="read_committed",
    )


def _decode(raw: bytes | None) -> Decision | None:
    try:
        return decode_decision(raw)
    except SchemaError as exc:  # a newer major version, or garbage: skip it, say so once per record
        log.warning("skipped an unreadable decision: %s", exc)
        return None


async def tail_decisions(
    kafka: KafkaSettings,
    match: DecisionFilter,
    emit: Callable[[Decision], None],
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_exit_s: float | None = None,
) -> int:
    """Follow the decisions topic (every partition, no consumer group) and emit those that match.

    Stops after ``limit`` matches, or after ``idle_exit_s`` without a record;
    with neither it runs until cancelled. Returns the number emitted.
    """
    consumer = _consumer(kafka, kafka.topics.decisions, latest=not from_beginning)
    await consumer.start()
    emitted, last_record = 0, time.monotonic()
    try:
        while limit is None or emitted < limit:
            batches = await consumer.getmany(timeout_ms=500)
            records = [record for batch in batches.values() for record in batch]
            if records:
                last_record = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - last_record > idle_exit_s:
                break
            for record in records:
                decision = _decode(record.value)
                if decision is not None and match.matches(decision) and (limit is None or emitted < limit):
                    emit(decision)
                    emitted += 1
    finally:
        await consumer.stop()
    return emitted


@dataclass(frozen=True)
class ExportResult:
    files: tuple[Path, ...]
    rows: int
    skipped: int
    offsets: Mapping[int, int]


async def topic_partitions(kafka: KafkaSettings, topic: str) -> list[int]:
    """The partition numbers of ``topic``, from the cluster's metadata (never creates the topic)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code") or not described.get("partitions"):
        raise AnalyticsError(f"topic {topic!r} does not exist or has no partitions")
    return sorted(p["partition"] for p in described["partitions"])


async def _assign_from(
    consumer: Any, topic: str, partitions: Sequence[int], offsets: Mapping[int, int]
) -> list[Any]:
    from aiokafka import TopicPartition

    tps = [TopicPartition(topic, p) for p in partitions]
    consumer.assign(tps)
    for tp in tps:
        if tp.partition in offsets:
            consumer.seek(tp, offsets[tp.partition])
        else:
            await consumer.seek_to_beginning(tp)
    return tps


async def export_decisions(
    kafka: KafkaSettings,
    out_dir: Path,
    *,
    follow: bool = False,
    batch_rows: int = 50_000,
    idle_exit_s: float = DEFAULT_IDLE_EXIT_S,
    flush_interval_s: float = 60.0,
) -> ExportResult:
    """Append the decisions not exported yet to ``out_dir`` as Parquet, then stop (or, ``follow``, go on)."""
    topic = kafka.topics.decisions
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(out_dir, topic)
    partitions = await topic_partitions(kafka, topic)
    consumer = _consumer(kafka)
    await consumer.start()
    state = _ExportRun(out_dir, checkpoint)
    try:
        tps = await _assign_from(consumer, topic, partitions, checkpoint.offsets)
        ends = await consumer.end_offsets(tps)
        last_record = last_flush = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=batch_rows)
            for tp, records in batches.items():
                state.add(tp.partition, records)
            now = time.monotonic()
            last_record = now if batches else last_record
            positions = {tp: await consumer.position(tp) for tp in tps}
            caught_up = all(positions[tp] >= ends[tp] for tp in tps) or now - last_record > idle_exit_s
            if len(state.rows) >= batch_rows or (state.rows and now - last_flush > flush_interval_s):
                state.flush(positions)
                last_flush = now
            if caught_up and not follow:
                state.flush(positions)
                break
    finally:
        await consumer.stop()
    return ExportResult(tuple(state.written), state.total_rows, state.skipped, dict(checkpoint.offsets))


class _ExportRun:
    """Rows read but not yet written, and what this run wrote."""

    def __init__(self, out_dir: Path, checkpoint: Checkpoint) -> None:
        self.out_dir, self.checkpoint = out_dir, checkpoint
        self.rows: list[dict[str, Any]] = []
        self.written: list[Path] = []
        self.total_rows = self.skipped = 0

    def add(self, partition: int, records: Iterable[Any]) -> None:
        for record in records:
            decision = _decode(record.value)
            if decision is None:
                self.skipped += 1
                continue
            self.rows.append(decision_row(decision, partition, record.offset, record.timestamp))

    def flush(self, positions: Mapping[Any, int]) -> None:
        """Write pending rows, then move the checkpoint to the consumer's positions."""
        if self.rows:
            path = write_part(self.out_dir, self.rows, time.time_ns() // 1_000_000)
            self.written.append(path)
            self.checkpoint.files.append(path.name)
            self.total_rows += len(self.rows)
            self.rows = []
        moved = {tp.partition: offset for tp, offset in positions.items()}
        self.checkpoint.offsets = resume_offsets(self.checkpoint.offsets, moved)
        write_checkpoint(self.out_dir, self.checkpoint)


# ---- pure: the report's numbers ----------------------------------------------------------

_NICE_BUCKETS_MS = tuple(
    s * 1000 for s in (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
)


def bucket_width_ms(span_ms: int, target_buckets: int = 24) -> int:
    """The smallest round width (1 min ... 1 week) that splits ``span_ms`` into at most ``target_buckets``."""
    for width in _NICE_BUCKETS_MS:
        if span_ms / width <= target_buckets:
            return width
    return _NICE_BUCKETS_MS[-1]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The value below which ``fraction`` of ``values`` lie (nearest rank); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


@dataclass(frozen=True)
class ChallengeStats:
    challenge_type: str
    total: int
    passed: int

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class TimeBucket:
    start_ms: int
    passed: int
    failed: int

    @property
    def total(self) -> int:
        return self.passed + self.failed


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, computed from exported rows; no I/O, no plotting."""

    total: int
    passed: int
    first_ms: int
    last_ms: int
    bucket_ms: int
    buckets: tuple[TimeBucket, ...]
    reasons: tuple[tuple[str, int], ...]  # most frequent first
    challenges: tuple[ChallengeStats, ...]
    latencies_s: tuple[float, ...]

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def latency_percentile(self, fraction: float) -> float | None:
        return percentile(self.latencies_s, fraction)


def summarise(rows: Sequence[Mapping[str, Any]]) -> ReportData:
    """The report's numbers from exported decision rows."""
    if not rows:
        raise AnalyticsError("no decisions to report on")
    decided = [int(row["decided_at_ms"]) for row in rows]
    first_ms, last_ms = min(decided), max(decided)
    width = bucket_width_ms(last_ms - first_ms)
    origin = first_ms - first_ms % width
    counts: dict[int, list[int]] = {}
    for row in rows:
        start = origin + (int(row["decided_at_ms"]) - origin) // width * width
        counts.setdefault(start, [0, 0])[0 if row["outcome"] == "pass" else 1] += 1
    buckets = tuple(
        TimeBucket(start, *counts.get(start, [0, 0])) for start in range(origin, last_ms + 1, width)
    )
    by_type: dict[str, list[int]] = {}
    for row in rows:
        tally = by_type.setdefault(row["challenge_type"], [0, 0])
        tally[0] += 1
        tally[1] += row["outcome"] == "pass"
    return ReportData(
        total=len(rows),
        passed=sum(row["outcome"] == "pass" for row in rows),
        first_ms=first_ms,
        last_ms=last_ms,
        bucket_ms=width,
        buckets=buckets,
        reasons=tuple(Tally(row["reason"] for row in rows).most_common()),
        challenges=tuple(ChallengeStats(name, *by_type[name]) for name in sorted(by_type)),
        latencies_s=tuple((row["decided_at_ms"] - row["started_at_ms"]) / 1000 for row in rows),
    )


# ---- pure: the HTML ----------------------------------------------------------------------


def _duration_text(width_ms: int) -> str:
    for unit_ms, unit in ((86400_000, "day"), (3600_000, "h"), (60_000, "min")):
        if width_ms % unit_ms == 0:
            return f"{width_ms // unit_ms} {unit}"
    return f"{width_ms / 1000:g} s"


def _seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PLOT_TITLES = {
    "over_time": "Decisions over time",
    "pass_rate": "Pass rate over time",
    "reasons": "Decisions by reason",
    "latency": "Time from challenge issued to decision",
    "challenges": "Decisions per challenge type",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:64rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;"
    "text-align:left}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5rem 0}"
    ".small{color:#666;font-size:.9rem}"
)


def render_html(data: ReportData, images: Mapping[str, bytes], source: str, generated_at_ms: int) -> str:
    """A self-contained HTML page: summary tables and the plots as embedded PNGs."""
    summary = _table(
        ("decisions", "passed", "pass rate", "first", "last", "latency p50", "latency p95"),
        [
            (
                data.total,
                data.passed,
                f"{data.pass_rate:.1%}",
                format_time_ms(data.first_ms),
                format_time_ms(data.last_ms),
                _seconds_text(data.latency_percentile(0.5)),
                _seconds_text(data.latency_percentile(0.95)),
            )
        ],
    )
    reasons = _table(
        ("reason", "decisions", "share"), [(r, n, f"{n / data.total:.1%}") for r, n in data.reasons]
    )
    challenges = _table(
        ("challenge type", "decisions", "passed", "pass rate"),
        [(c.challenge_type, c.total, c.passed, f"{c.pass_rate:.1%}") for c in data.challenges],
    )
    figures = "".join(
        f"<h2>{html.escape(PLOT_TITLES.get(name, name))}</h2>"
        f'<img alt="{html.escape(PLOT_TITLES.get(name, name))}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
        for name, png in images.items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Liveness decisions report</title><style>{_STYLE}</style></head><body>"
        "<h1>Liveness decisions report</h1>"
        f'<p class="small">Source: {html.escape(source)} &middot; generated {format_time_ms(generated_at_ms)}'
        f" &middot; time buckets of {_duration_text(data.bucket_ms)} (UTC)</p>"
        f"<h2>Summary</h2>{summary}<h2>Reasons</h2>{reasons}<h2>Challenge types</h2>{challenges}{figures}"
        "</body></html>"
    )


# ---- plots (matplotlib, Agg; no file I/O) ------------------------------------------------


def _figure(width_in: float = 9.0, height_in: float = 3.6) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _bucket_times(data: ReportData) -> list[datetime]:
    return [datetime.fromtimestamp(b.start_ms / 1000, UTC) for b in data.buckets]


def plot_over_time(data: ReportData) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    times, width_days = _bucket_times(data), data.bucket_ms / 86_400_000 * 0.9
    passed = [b.passed for b in data.buckets]
    axes.bar(times, passed, width=width_days, align="edge", color="#2e7d32", label="pass")
    failed = [b.failed for b in data.buckets]
    axes.bar(times, failed, width=width_days, align="edge", bottom=passed, color="#c62828", label="fail")
    axes.set_ylabel(f"decisions per {_duration_text(data.bucket_ms)}")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    return _png(figure)


def plot_pass_rate(data: ReportData) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    points = [
        (t, b.passed / b.total) for t, b in zip(_bucket_times(data), data.buckets, strict=True) if b.total
    ]
    axes.plot([t for t, _ in points], [rate * 100 for _, rate in points], marker="o", color="#1565c0")
    axes.axhline(data.pass_rate * 100, color="#999", linestyle="--", label=f"overall {data.pass_rate:.1%}")
    axes.set_ylim(0, 100)
    axes.set_ylabel("pass rate (%)")
    axes.legend(loc="lower left")
    figure.autofmt_xdate()
    return _png(figure)


def plot_reasons(data: ReportData) -> bytes:
    figure = _figure(height_in=max(2.0, 0.35 * len(data.reasons) + 1))
    axes = figure.add_subplot()
    names = [name for name, _ in reversed(data.reasons)]
    colours = ["#2e7d32" if name == "PASSED" else "#c62828" for name in names]
    axes.barh(names, [count for _, count in reversed(data.reasons)], color=colours)
    axes.set_xlabel("decisions")
    return _png(figure)


def plot_latency(data: ReportData) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    axes.hist(data.latencies_s, bins=min(40, max(5, len(data.latencies_s) // 5)), color="#6a1b9a")
    for fraction, style in ((0.5, "--"), (0.95, ":")):
        value = data.latency_percentile(fraction)
        if value is not None:
            label = f"p{round(fraction * 100)} {value:.1f} s"
            axes.axvline(value, color="#333", linestyle=style, label=label)
    axes.set_xlabel("seconds (decided_at_ms - started_at_ms)")
    axes.set_ylabel("decisions")
    axes.legend()
    return _png(figure)


def plot_challenges(data: ReportData) -> bytes:
    figure = _figure()
    axes = figure.add_subplot()
    names = [c.challenge_type for c in data.challenges]
    passed = [c.passed for c in data.challenges]
    axes.bar(names, passed, color="#2e7d32", label="pass")
    axes.bar(
        names, [c.total - c.passed for c in data.challenges], bottom=passed, color="#c62828", label="fail"
    )
    for index, stats in enumerate(data.challenges):
        axes.annotate(f"{stats.pass_rate:.0%}", (index, stats.total), ha="center", va="bottom")
    axes.margins(y=0.12)  # room for the pass-rate labels above the bars
    axes.set_ylabel("decisions")
    axes.legend()
    return _png(figure)


PLOTS: dict[str, Callable[[ReportData], bytes]] = {
    "over_time": plot_over_time,
    "pass_rate": plot_pass_rate,
    "reasons": plot_reasons,
    "latency": plot_latency,
    "challenges": plot_challenges,
}


def write_report(in_dir: Path, out_path: Path, plots_dir: Path | None = None) -> ReportData:
    """Read an export directory, write the HTML report (and, if asked, each plot as a PNG file)."""
    data = summarise(load_decision_rows(in_dir))
    images = {name: plot(data) for name, plot in PLOTS.items()}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_html(data, images, str(in_dir), time.time_ns() // 1_000_000))
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        for name, png in images.items():
            (plots_dir / f"{name}.png").write_bytes(png)
    return data


# ---- CLI ---------------------------------------------------------------------------------

KafkaFlags = Callable[[argparse.ArgumentParser], None]
KafkaOf = Callable[[argparse.Namespace], KafkaSettings]


def add_analytics_commands(sub: Any, kafka_flags: KafkaFlags, kafka_of: KafkaOf) -> None:
    """Register ``liveness decisions [export]`` and ``liveness report`` on the CLI's subparsers."""
    decisions = sub.add_parser(
        "decisions", help="tail the decision stream (filters), or export it to Parquet"
    )
    kafka_flags(decisions)
    decisions.add_argument("--outcome", action="append", choices=("pass", "fail"), help="repeatable")
    decisions.add_argument("--reason", action="append", type=str.upper, help="reason code, repeatable")
    decisions.add_argument("--challenge-type", action="append", help="repeatable")
    decisions.add_argument("--from-beginning", action="store_true", help="start at the oldest decision")
    decisions.add_argument("--json", action="store_true", help="print each decision's JSON instead")
    decisions.add_argument("--limit", type=int, help="stop after this many decisions")
    decisions.add_argument(
        "--idle-exit", type=float, metavar="S", help="stop after S seconds without records"
    )
    decisions.set_defaults(handler=lambda args: cmd_decisions(args, kafka_of(args)))
    actions = decisions.add_subparsers(dest="action", metavar="ACTION")
    export = actions.add_parser("export", help="append new decisions to Parquet files in --out, then stop")
    kafka_flags(export)
    export.add_argument("--out", type=Path, required=True, help="export directory (created if missing)")
    export.add_argument("--follow", action="store_true", help="keep exporting as decisions arrive")
    export.add_argument("--batch-rows", type=int, default=50_000, help="rows per Parquet file at most")
    export.set_defaults(handler=lambda args: cmd_export(args, kafka_of(args)))

    report = sub.add_parser("report", help="HTML report with plots from exported decisions")
    report.add_argument("--in", dest="in_dir", type=Path, required=True, help="export directory")
    report.add_argument("--out", type=Path, required=True, help="HTML file to write")
    report.add_argument("--plots-dir", type=Path, help="also write each plot as a PNG here")
    report.set_defaults(handler=cmd_report)


def _print_decision(as_json: bool) -> Callable[[Decision], None]:
    def emit(decision: Decision) -> None:
        sys.stdout.write(orjson.dumps(decision.to_dict()).decode() if as_json else format_decision(decision))
        sys.stdout.write("\n")
        sys.stdout.flush()

    return emit


def cmd_decisions(args: argparse.Namespace, kafka: KafkaSettings) -> int:
    match = DecisionFilter(
        frozenset(args.outcome or ()), frozenset(args.reason or ()), frozenset(args.challenge_type or ())
    )
    run = tail_decisions(
        kafka,
        match,
        _print_decision(args.json),
        from_beginning=args.from_beginning,
        limit=args.limit,
        idle_exit_s=args.idle_exit,
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a tail ends
        asyncio.run(run)
    return 0


def cmd_export(args: argparse.Namespace, kafka: KafkaSettings) -> int:
    result = asyncio.run(export_decisions(kafka, args.out, follow=args.follow, batch_rows=args.batch_rows))
    offsets = ", ".join(f"{p}:{o}" for p, o in sorted(result.offsets.items()))
    print(
        f"exported {result.rows} decisions in {len(result.files)} file(s) to {args.out}"
        f" (skipped {result.skipped} unreadable; next offsets {offsets or 'none'})"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    try:
        data = write_report(args.in_dir, args.out, args.plots_dir)
    except AnalyticsError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {data.total} decisions, pass rate {data.pass_rate:.1%}")
    return 0
