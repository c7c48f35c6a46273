"""``liveness bench``: run every measurement side by side, print the table, write the JSON report."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks import measure
from benchmarks.frames import frame_pool, genuine_recordings
from devtools.broker import BrokerConfig, LocalBroker, free_ports
from runtime.settings import existing_bootstrap_from_env


def run_all(bench: measure.Bench) -> dict[str, Any]:
    """Every measurement, in an order that keeps the machine otherwise idle during each one."""
    quick = bench.quick
    recordings = genuine_recordings(bench.work_dir / "sessions", 3 if quick else 12)
    frames = frame_pool(recordings, 40 if quick else 400)
    report: dict[str, Any] = {
        "machine": machine(),
        "quick": quick,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

    report["processor"] = processor_against_ceiling(bench, frames)
    fps_1 = report["processor"]["pipeline_fps"]
    report["identity"] = measure.identity_cost(
        frames[:20] if quick else frames[:100],
        recordings[:1] if quick else recordings[:4],
        embeddings=3 if quick else 30,
    )
    two = measure.pipeline_fps(bench, frames, processors=2)
    report["scaling"] = {
        "fps_1": fps_1,
        "fps_2": two["fps"],
        "speedup": two["fps"] / fps_1,
        "capacity": capacity_table(fps_1),
    }

    capacity = saturation(fps_1, report["identity"])
    full = int(capacity["saturation_sessions_at_10fps"])
    loads = [1, 2] if quick else sorted({1, 2, 4, seventy_percent(capacity), full})
    lockstep = [2] if quick else [seventy_percent(capacity)]  # the old arrival pattern, beside it
    report["latency"] = {
        **capacity,
        "rows": measure.decision_latency(
            bench, recordings, loads, rounds=1 if quick else 3, lockstep_loads=lockstep
        ),
    }
    report["streaming_vs_batch"] = measure.streaming_vs_batch(
        bench, recordings[0], [60] if quick else [60, 120]
    )

    template = measure.observations_of(recordings[0])
    core_sessions = 50 if quick else 500
    report["verifier"] = {
        "core": measure.verifier_core_rate(template, recordings[0], core_sessions),
        "worker": measure.verifier_worker_rate(bench, template, recordings[0], 20 if quick else 400),
        "state": measure.session_state_bytes(template, recordings[0]),
    }
    report["wire"] = measure.wire_cost(
        recordings,
        [50, 70, 80, 90] if not quick else [80],
        [320, 480, 640] if not quick else [640],
        frames=10 if quick else 120,
    )
    return report


def processor_against_ceiling(bench: measure.Bench, frames: Sequence[bytes]) -> dict[str, float]:
    """One processor through Kafka against FaceMesh's own speed, the ceiling measured just before
    and just after it.

    On a shared machine the speed of the same loop drifts by 10-20% from one minute to the next;
    the mean of the two ceilings is the one the processor's run saw, and both are reported.
    """
    before = measure.ceiling_fps(frames)
    one = measure.pipeline_fps(bench, frames, processors=1)
    after = measure.ceiling_fps(frames)
    ceiling = (before + after) / 2
    return {
        "ceiling_fps": ceiling,
        "ceiling_fps_before": before,
        "ceiling_fps_after": after,
        "pipeline_fps": one["fps"],
        "ratio": one["fps"] / ceiling,
        "frames": one["frames"],
        "peak_rss_mb": one["peak_rss_mb"],
    }


def saturation(fps: float, identity: dict[str, float]) -> dict[str, float]:
    """Concurrent 10-fps sessions one processor carries: the CPU of its frames and of its embeddings.

    A frame costs what the processor's measured rate says (decode, FaceMesh, Kafka); a session
    also costs the identity samples the verifier asks for. The sum per session, against the
    session's length at 10 fps, is the whole processor work: one processor's CPU second per
    second is the limit. FaceMesh alone (``facemesh_only_sessions``) overstates it.
    """
    frames = identity["frames_per_session"]
    session_ms = frames * 1000 / fps + identity["identity_ms_per_session"]
    sessions = frames / 10 * 1000 / session_ms
    return {
        "saturation_sessions_at_10fps": max(1, int(sessions)),
        "saturation_sessions_exact": sessions,
        "facemesh_only_sessions": max(1, int(fps / 10)),
        "processor_ms_per_session": session_ms,
        "identity_ms_per_session": identity["identity_ms_per_session"],
    }


def seventy_percent(capacity: dict[str, float]) -> int:
    """The load of the latency goal: 70% of saturation, to the nearest whole session."""
    return max(1, round(0.7 * capacity["saturation_sessions_exact"]))


def run_latency(
    bench: measure.Bench, rounds: int, loads: Sequence[int] = (), lockstep_loads: Sequence[int] = ()
) -> dict[str, Any]:
    """Only what the latency goal needs: the processor's rate, the identity stage's cost, and the
    decision latency at 1 session and at 70% of the saturation they give (or at ``loads``)."""
    recordings = genuine_recordings(bench.work_dir / "sessions", 12)
    frames = frame_pool(recordings, 400)
    report: dict[str, Any] = {"machine": machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    report["processor"] = processor_against_ceiling(bench, frames)
    report["identity"] = measure.identity_cost(frames[:100], recordings[:4], embeddings=30)
    capacity = saturation(report["processor"]["pipeline_fps"], report["identity"])
    seventy = seventy_percent(capacity)
    # The harness's old arrival pattern, beside the goal's.
    lockstep = list(lockstep_loads) if loads else [seventy, *lockstep_loads]
    loads = loads or sorted({1, seventy})
    rows = measure.decision_latency(bench, recordings, loads, rounds, lockstep_loads=lockstep)
    report["latency"] = {**capacity, "rows": rows}
    return report


def network_line(identity: dict[str, float]) -> str:
    """The face network's CPU per chip, ours beside dlib's own pass of the same weights."""
    ours = identity.get("network_ms", float("nan"))
    theirs = identity.get("network_ms_dlib_own_pass", float("nan"))
    ratio = f"{theirs / ours:.1f}x" if ours > 0 else "n/a"
    return f"network {ours:.1f} ms/chip (dlib's own pass {theirs:.1f}, {ratio})"


def ceiling_span(processor: dict[str, float]) -> str:
    """The two ceilings the mean is of (reports from before they were two say so)."""
    if "ceiling_fps_before" not in processor:
        return "measured once"
    return f"{processor['ceiling_fps_before']:.1f} before, {processor['ceiling_fps_after']:.1f} after"


def format_latency(report: dict[str, Any]) -> str:
    """The latency-only run as a few lines of markdown."""
    p, i, lat = report["processor"], report["identity"], report["latency"]
    lines = [
        f"processor {p['pipeline_fps']:.1f} frames/s "
        f"({p['ratio']:.3f} of the {p['ceiling_fps']:.1f} ceiling, {ceiling_span(p)}); "
        f"identity {i['embedding_ms']:.1f} ms/sample "
        f"({i.get('embedding_ms_facemesh_again', float('nan')):.1f} with FaceMesh run again) "
        f"x {i['embeddings_per_session']:.2f} per session; {network_line(i)}",
        f"saturation {lat['saturation_sessions_exact']:.1f} sessions at 10 fps "
        f"({lat['processor_ms_per_session']:.0f} ms of processor CPU per session; "
        f"FaceMesh alone: {lat['facemesh_only_sessions']:.0f})",
        "",
        "| concurrent sessions (10 fps) | frames arrive | share of saturation | decisions "
        "| p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in lat["rows"]:
        if "p50_ms" in row:
            share = row["concurrent_sessions"] / lat["saturation_sessions_exact"]
            arrive = "in lockstep" if row.get("lockstep") else "spread"
            lines.append(
                f"| {row['concurrent_sessions']:.0f} | {arrive} | {100 * share:.0f}% | {row['sessions']:.0f} "
                f"| {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | {row['p99_ms']:.0f} |"
            )
    return "\n".join(lines)


def capacity_table(fps_per_core: float) -> list[dict[str, float]]:
    """Sessions per minute at 10 fps and ~100 frames per session, for N processor cores."""
    per_core = fps_per_core * 60 / 100
    return [
        {
            "cores": float(n),
            "sessions_per_minute": per_core * n,
            "concurrent_sessions_at_10fps": fps_per_core * n / 10,
        }
        for n in (1, 2, 4, 8, 16)
    ]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def format_report(report: dict[str, Any]) -> str:
    """The report as the markdown tables the README shows."""
    p, s = report["processor"], report["scaling"]
    lines = [
        f"Machine: {report['machine']['cpus']} cores, {report['machine']['cpu']}",
        "",
        "| measurement | figure |",
        "|---|---|",
        "| FaceMesh ceiling (decode + model, plain loop) | "
        f"{p['ceiling_fps']:.1f} frames/s ({ceiling_span(p)}) |",
        f"| 1 processor through Kafka | {p['pipeline_fps']:.1f} frames/s ({p['ratio']:.3f} of ceiling) |",
        f"| 2 processors through Kafka | {s['fps_2']:.1f} frames/s (speed-up {s['speedup']:.2f}) |",
    ]
    i = report["identity"]
    lines += [
        f"| FaceMesh CPU (same run) | {i['facemesh_ms_per_frame']:.1f} ms/frame, "
        f"{i['facemesh_ms_per_session']:.0f} ms/session ({i['frames_per_session']:.0f} frames) |",
        f"| face network CPU, same chips | {network_line(i)} |",
        "| identity stage CPU (alignment on the processor's landmarks + the face network) | "
        f"{i['embedding_ms']:.1f} ms/embedding ({i['embedding_ms_facemesh_again']:.1f} with FaceMesh "
        f"run again), {i['identity_ms_per_session']:.0f} ms/session "
        f"({i['embeddings_per_session']:.1f} frames the verifier asked for) = "
        f"{100 * i['identity_share']:.0f}% of the session's FaceMesh "
        f"({100 * i['identity_share_ends_only']:.0f}% with identity_every_step off) |",
    ]
    v = report["verifier"]
    lines += [
        f"| verifier core (in-process) | {v['core']['observations_per_s']:.0f} events/s |",
        f"| verifier worker through Kafka | {v['worker']['events_per_s']:.0f} events/s, "
        f"{v['worker']['cpu_us_per_event']:.0f} µs CPU/event |",
        f"| open session state | {v['state']['bytes_per_open_session']:.0f} B "
        f"({v['state']['open_sessions_per_gib']:.0f} per GiB) |",
        f"| peak RSS processor / verifier | {p['peak_rss_mb']:.0f} / {v['worker']['peak_rss_mb']:.0f} MiB |",
        "",
        "| concurrent sessions (10 fps) | frames arrive | share of saturation | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    saturated = report["latency"]["saturation_sessions_exact"]
    for row in report["latency"]["rows"]:
        if "p50_ms" in row:
            arrive = "in lockstep" if row.get("lockstep") else "spread"
            lines.append(
                f"| {row['concurrent_sessions']:.0f} | {arrive} | "
                f"{100 * row['concurrent_sessions'] / saturated:.0f}% | {row['p50_ms']:.0f} | "
                f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} |"
            )
    lines += ["", "| frames per session | streaming ms | batch ms | batch / streaming |", "|---|---|---|---|"]
    for row in report["streaming_vs_batch"]:
        lines.append(
            f"| {row['frames']:.0f} | {row['streaming_ms']:.0f} | {row['batch_ms']:.0f} "
            f"| {row['ratio']:.1f} |"
        )
    lines += [
        "",
        "| width | JPEG quality | bytes/frame | faces found | nose error p50/p95 px |",
        "|---|---|---|---|---|",
    ]
    for row in report["wire"]:
        lines.append(
            f"| {row['width']:.0f} | {row['quality']:.0f} | {row['bytes_per_frame']:.0f} "
            f"| {row['faces_found']:.2f} | {row['nose_error_px_p50']:.1f} / {row['nose_error_px_p95']:.1f} |"
        )
    lines += [
        "",
        "| processor cores | sessions/minute (100 frames) | concurrent sessions at 10 fps |",
        "|---|---|---|",
    ]
    for row in s["capacity"]:
        concurrent = row["concurrent_sessions_at_10fps"]
        lines.append(f"| {row['cores']:.0f} | {row['sessions_per_minute']:.0f} | {concurrent:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liveness bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks every figure is produced")
    parser.add_argument("--json", type=Path, help="JSON report path [out/bench/report.json, latency.json]")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="only the decision latency at 1 session and at 70%% of saturation (and what saturation needs)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="sessions per lane in --latency-only, at least (4 lanes and more: enough for 96 sessions)",
    )
    parser.add_argument(
        "--loads",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        help="with --latency-only: these concurrent-session counts instead of 1 and 70%% (e.g. 1,6)",
    )
    parser.add_argument(
        "--lockstep-loads",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        help="with --latency-only: also these counts with every lane's frames sent in the same instant",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("out/bench"))
    parser.add_argument("--bootstrap", help="an existing broker [LIVENESS_BOOTSTRAP]; else one is started")
    args = parser.parse_args(argv)
    bootstrap = args.bootstrap or existing_bootstrap_from_env()
    broker = None
    if not bootstrap:
        port, controller = free_ports(2)
        data_dir = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
        broker = LocalBroker(BrokerConfig(data_dir=data_dir, port=port, controller_port=controller))
        broker.start(timeout_s=90)
        bootstrap = broker.bootstrap
    try:
        bench = measure.Bench(bootstrap, args.work_dir, quick=args.quick)
        report = (
            run_latency(bench, args.rounds, args.loads, args.lockstep_loads)
            if args.latency_only
            else run_all(bench)
        )
    finally:
        if broker:
            broker.stop()
            shutil.rmtree(broker.config.data_dir, ignore_errors=True)
    path = args.json or args.work_dir / ("latency.json" if args.latency_only else "report.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    print(format_latency(report) if args.latency_only else format_report(report))
    print(f"\nJSON report: {path}")
    return 0
