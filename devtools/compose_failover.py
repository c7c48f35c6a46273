"""Failover of the compose stack under load: its broker, verifier and processor containers disturbed.

The same load and the same counting as ``liveness reliability`` (``devtools.reliability``:
recorded sessions published paced and staggered from the host, every decision read
back and judged against the undisturbed one), against deploy/compose.yaml's
three-broker cluster instead of processes on the host. The disturbances are what an
operator does to containers:

- ``leader-kill``: ``docker kill`` the broker leading most frames and decisions
  partitions, ``docker start`` it a few seconds later;
- ``verifier-kill``: ``docker kill`` the verifier, ``docker start`` it (its table is on a volume);
- ``scale``: processors 2 -> 3, then back to 2 (``--scale``; the one removed gets SIGTERM).

    python -m devtools.compose_failover [--sessions N] [--json PATH] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from devtools.cluster import LocalCluster
from devtools.compose import BROKERS, HOST_BOOTSTRAP, ROOT, ComposeStack, token_secret, wait_scraped
from devtools.reliability import (
    Corpus,
    Disturbance,
    Harness,
    Load,
    ReliabilitySettings,
    ScenarioReport,
    Window,
    baseline_latencies,
    build_corpus,
    disturb_leader_kill,
    disturb_nothing,
    format_problems,
    run_scenario,
)
from devtools.trails import describe_sessions, problem_sessions

COMPOSE_SCENARIOS = ("baseline", "leader-kill", "verifier-kill", "scale")
# What "recovered" means per scenario, as printed under the table.
RECOVERY = {
    "leader-kill": "the killed broker's partitions have a new leader (writes acknowledged again)",
    "verifier-kill": "a new verifier member owns the verifier group's partitions",
    "scale": "the processor group is stable with 3 members, then with 2 again (both waits summed)",
}


class ComposeCluster(LocalCluster):
    """The compose stack's three brokers, read and disturbed like ``LocalCluster``'s JVMs."""

    def __init__(self, stack: ComposeStack) -> None:
        self.stack = stack
        self.startup_s = None

    @property
    def bootstrap(self) -> str:
        return HOST_BOOTSTRAP

    def live_bootstrap(self) -> str:
        """The published addresses of the brokers whose containers run."""
        running = [
            f"127.0.0.1:{port}" for service, port in BROKERS.values() if self.stack.containers(service)
        ]
        return ",".join(running)

    def kill(self, node_id: int) -> None:
        self.stack.kill(BROKERS[node_id][0])

    def stop_node(self, node_id: int) -> None:
        self.stack.stop(BROKERS[node_id][0])

    def restart(self, node_id: int, timeout_s: float = 120) -> None:
        self.stack.start(BROKERS[node_id][0])
        self.wait_for_nodes(len(BROKERS), timeout_s)


@dataclass
class ComposeHarness:
    """What ``devtools.reliability.run_scenario`` reads of a harness, for the compose stack."""

    settings: ReliabilitySettings
    stack: ComposeStack
    broker: ComposeCluster = field(init=False)
    tracked: dict[str, Any] = field(default_factory=dict)
    burst: Corpus | None = None

    def __post_init__(self) -> None:
        self.broker = ComposeCluster(self.stack)

    @property
    def kafka(self) -> Any:
        return self.stack.kafka


async def group_members(bootstrap: str, group_id: str) -> tuple[str, set[str]]:
    """A consumer group's state and its member ids (``("", set())`` while the coordinator is unknown)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group_id])
    except KafkaError:
        return "", set()
    finally:
        await admin.close()
    for response in described:
        for group in getattr(response, "groups", []):
            # (error_code, group_id, state, protocol_type, protocol, members, ...); members start with ids
            return str(group[2]), {str(member[0]) for member in group[5]}
    return "", set()


async def wait_group(
    bootstrap: str,
    group_id: str,
    members: int,
    *,
    not_in: frozenset[str] | set[str] = frozenset(),
    timeout_s: float = 240,
) -> float:
    """Block until ``group_id`` is Stable with exactly ``members`` members, none of them in ``not_in``."""
    started = time.monotonic()
    while True:
        state, ids = await group_members(bootstrap, group_id)
        if state == "Stable" and len(ids) == members and not ids & not_in:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{group_id}: {state} with {len(ids)} members after {timeout_s} s")
        await asyncio.sleep(0.5)


async def disturb_verifier_kill(harness: Harness, load: Load, publisher: Any) -> Window:
    """SIGKILL the verifier container and start it again: its table reopens from the volume."""
    stack = cast(ComposeStack, harness.stack)
    _, before = await group_members(stack.kafka.bootstrap, stack.verifier_app_id)
    started = time.monotonic()
    await asyncio.to_thread(stack.kill, "verifier")
    await asyncio.to_thread(stack.start, "verifier")
    await wait_group(stack.kafka.bootstrap, stack.verifier_app_id, 1, not_in=before)
    load.notes.update(recover_s=round(time.monotonic() - started, 1))
    return None


async def disturb_scale(harness: Harness, load: Load, publisher: Any) -> Window:
    """Processors 2 -> 3 (a rebalance moves partitions to the new one), then back to 2 (another)."""
    stack = cast(ComposeStack, harness.stack)
    started = time.monotonic()
    await asyncio.to_thread(stack.scale, 3)
    up_s = await wait_group(stack.kafka.bootstrap, stack.processor_app_id, 3)
    scaled_up = time.monotonic() - started
    await asyncio.sleep(harness.settings.outage_s)
    down_started = time.monotonic()
    await asyncio.to_thread(stack.scale, 2)
    await wait_group(stack.kafka.bootstrap, stack.processor_app_id, 2)
    scaled_down = time.monotonic() - down_started
    load.notes.update(
        scale_up_s=round(scaled_up, 1),
        group_of_3_s=round(up_s, 1),
        scale_down_s=round(scaled_down, 1),
        recover_s=round(scaled_up + scaled_down, 1),
    )
    return None


async def disturb_broker_leader(harness: Harness, load: Load, publisher: Any) -> Window:
    """``devtools.reliability``'s leader kill, on a container; recovered once leaders have moved."""
    window = await disturb_leader_kill(harness, load, publisher)
    load.notes["recover_s"] = load.notes.get("leaders_moved_s")
    return window


COMPOSE_DISTURBANCES: dict[str, Disturbance] = {
    "baseline": disturb_nothing,
    "leader-kill": disturb_broker_leader,
    "verifier-kill": disturb_verifier_kill,
    "scale": disturb_scale,
}


async def run_compose_scenario(
    harness: ComposeHarness, corpus: Corpus, scenario: str, baseline: Mapping[str, float] | None = None
) -> ScenarioReport:
    # The compose harness has every attribute run_scenario reads of a Harness (duck-typed).
    return await run_scenario(
        cast(Harness, harness), corpus, scenario, baseline, disturbances=COMPOSE_DISTURBANCES
    )


async def run_scenarios(
    harness: ComposeHarness, corpus: Corpus, scenarios: Sequence[str]
) -> list[ScenarioReport]:
    reports: list[ScenarioReport] = []
    baseline: dict[str, float] = {}
    for scenario in scenarios:
        report = await run_compose_scenario(harness, corpus, scenario, baseline)
        if scenario == "baseline":
            baseline = baseline_latencies(
                [s for s in harness.tracked.values() if s.session_id.startswith("baseline-")]
            )
        reports.append(report)
        print(format_failover_table([report]).splitlines()[-1], flush=True)
        if report.error is not None:
            print(f"{scenario} failed: {report.error}", flush=True)
            break
    return reports


_COLUMNS = (
    "scenario",
    "sessions",
    "missing",
    "duplicate",
    "wrong",
    "timeouts",
    "time to recover",
    "p95 latency",
)


def format_failover_table(reports: Sequence[ScenarioReport]) -> str:
    """Markdown: scenario -> sessions, missing, duplicate, wrong, excused timeouts, recovery, latency."""
    rows = ["| " + " | ".join(_COLUMNS) + " |", "|" + "|".join("---" for _ in _COLUMNS) + "|"]
    for r in reports:
        recover = r.extra.get("recover_s")
        cells = (
            r.scenario,
            r.sessions,
            r.missing,
            r.duplicates,
            r.wrong,
            r.timeouts,
            "-" if recover is None else f"{recover} s",
            f"{r.extra.get('latency_p95_s', '-')} s",
        )
        rows.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.compose_failover", description=__doc__.splitlines()[0]
    )
    parser.add_argument("scenarios", nargs="*", default=list(COMPOSE_SCENARIOS))
    parser.add_argument("--sessions", type=int, default=24, help="sessions per scenario (default 24)")
    parser.add_argument("--outage", type=float, default=6.0, help="seconds a broker stays down (default 6)")
    parser.add_argument("--json", type=Path, help="write the reports here as JSON")
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "out" / "compose-failover")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # reconnects to the killed broker
    settings = ReliabilitySettings(
        work_dir=args.work_dir.resolve(),
        sessions=args.sessions,
        outage_s=args.outage,
        partitions=6,
        brokers=3,
    )
    stack = ComposeStack(token_secret(ROOT / "out" / "compose"), partitions=settings.partitions)
    corpus, _burst = build_corpus(settings)
    stack.down()  # a fresh cluster: no topics, tables or offsets from an earlier run
    print(f"stack up in {stack.up(2):.0f} s", flush=True)
    try:
        harness = ComposeHarness(settings, stack)
        print(format_failover_table([]), flush=True)
        reports = asyncio.run(run_scenarios(harness, corpus, args.scenarios))
        targets = wait_scraped(processors=2)
        for report in reports:  # where each failed session's records stopped
            if report.problems:
                ids = problem_sessions(report.problems)
                print(asyncio.run(describe_sessions(stack.kafka, ids, stack.verifier_app_id)), flush=True)
    finally:
        if not args.keep:
            stack.down()
    print("\n" + format_failover_table(reports))
    for report in reports:
        if report.scenario in RECOVERY:
            print(f"{report.scenario}: recovered = {RECOVERY[report.scenario]}; {dict(report.extra)}")
    if problems := format_problems(reports):
        print("\n" + problems)
    print('\nPrometheus up{job=~"liveness-.*"}:')
    for target, up in sorted(targets.items()):
        print(f"  {target} = {up:g}")
    if args.json:
        import orjson

        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"reports": [r.to_dict() for r in reports], "prometheus_up": targets}
        args.json.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
    jobs_up = {target.split("/")[0] for target, up in targets.items() if up == 1}
    return 0 if all(r.ok for r in reports) and len(jobs_up) == 3 else 1


if __name__ == "__main__":
    sys.exit(main())
