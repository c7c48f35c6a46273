"""Reliability scenarios: crashes, restarts, rebalances, outages and floods under load, judged per session.

The pure half (``Tracked``, ``judge``, ``format_table``) turns what was published
and what was decided into a report; the shell half (``Harness`` and the
``disturb_*`` coroutines) runs a broker of its own, real worker processes and a
paced, staggered load of generated sessions, and disturbs them.

Every started session must get exactly one decision, equal to the undisturbed
one (``replay_offline`` of the same recording). The one documented exception:
a session whose life overlapped a broker outage may get a time-limit decision
(``TIMEOUT``, ``EXPIRED``, ``CLOCK_SKEW``), because every deadline is judged on
the broker's clock and the broker did not see the frames in time.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SCENARIOS = (
    "baseline",
    "processor-kill",
    "verifier-kill",
    "verifier-kill-warm",
    "rebalance",
    "broker-restart",
    "flood",
)
# Scenarios of a three-broker cluster (``--brokers 3``): baseline first, then these.
CLUSTER_SCENARIOS = ("leader-kill", "leader-stop")
# Reasons a session may get instead of its undisturbed one when an outage overlapped it.
OUTAGE_REASONS = frozenset({"TIMEOUT", "EXPIRED", "CLOCK_SKEW"})
# (species, draw index): genuine and attack sessions from real faces; the index picks person/variant.
DEFAULT_TEMPLATES: tuple[tuple[str, int], ...] = (
    ("genuine", 3),
    ("static_photo", 1),
    ("two_faces", 2),
    ("no_face", 5),
    ("photo_tilted", 4),
    ("turn_away", 6),
)


# ---- pure: what happened to each session, and the verdict on a scenario ----------------------


@dataclass(frozen=True)
class Seen:
    """One decision record as read from the decisions topic, with the time the watcher got it."""

    outcome: str
    reason: str
    seen_at_s: float
    detail: str = ""  # the failed checks, "name=value>limit", for the report of a wrong decision


@dataclass
class Tracked:
    """One session the load started: its template, the undisturbed decision, and what the pipeline said."""

    session_id: str
    template: str
    expected: tuple[str, str]
    started_at_s: float
    ended_at_s: float | None = None
    decisions: list[Seen] = field(default_factory=list)

    def latency_s(self) -> float | None:
        """From the client's end of session (or its start, if it never ended) to the first decision."""
        if not self.decisions:
            return None
        return self.decisions[0].seen_at_s - (self.ended_at_s or self.started_at_s)

    def overlaps(self, window: tuple[float, float] | None) -> bool:
        if window is None:
            return False
        end = self.decisions[0].seen_at_s if self.decisions else float("inf")
        return self.started_at_s <= window[1] and end >= window[0]


@dataclass(frozen=True)
class ScenarioReport:
    """The verdict on one scenario; ``ok`` when nothing was lost, doubled or changed."""

    scenario: str
    sessions: int
    decisions: int
    missing: int
    duplicates: int
    wrong: int
    timeouts: int  # documented: a time-limit reason because an outage overlapped the session
    max_extra_latency_s: float
    max_lag: int
    duration_s: float
    problems: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # the disturbance itself failed (e.g. a worker did not come back)

    @property
    def ok(self) -> bool:
        return self.error is None and self.missing == 0 and self.duplicates == 0 and self.wrong == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "sessions": self.sessions,
            "decisions": self.decisions,
            "missing": self.missing,
            "duplicates": self.duplicates,
            "wrong": self.wrong,
            "timeouts": self.timeouts,
            "max_extra_latency_s": round(self.max_extra_latency_s, 2),
            "max_lag": self.max_lag,
            "duration_s": round(self.duration_s, 1),
            "ok": self.ok,
            "error": self.error,
            "problems": list(self.problems),
            **dict(self.extra),
        }


def scenario_failures(report: ScenarioReport, workers: Sequence[Any] = ()) -> list[str]:
    """What a disturbed scenario broke: empty when every session got exactly one decision, equal to
    the undisturbed one, and every worker (objects with ``alive()`` and ``log_tail()``) still runs."""
    failures = [f"the disturbance failed: {report.error}"] if report.error is not None else []
    if (report.missing, report.duplicates, report.wrong) != (0, 0, 0) or report.decisions != report.sessions:
        failures.append(
            f"{report.sessions} sessions, {report.decisions} decisions: {report.missing} missing, "
            f"{report.duplicates} duplicate, {report.wrong} wrong\n{format_problems([report])}"
        )
    failures.extend(f"{w.role} died:\n{w.log_tail()}" for w in workers if not w.alive())
    return failures


def baseline_latencies(tracked: Sequence[Tracked]) -> dict[str, float]:
    """Median decision latency per template in an undisturbed run: what "extra" latency is measured from."""
    by_template: dict[str, list[float]] = {}
    for session in tracked:
        latency = session.latency_s()
        if latency is not None:
            by_template.setdefault(session.template, []).append(latency)
    return {template: statistics.median(values) for template, values in by_template.items()}


def latency_summary(tracked: Sequence[Tracked]) -> dict[str, float]:
    """Median, 95th percentile and worst decision latency of a scenario's sessions, in seconds."""
    latencies = sorted(latency for s in tracked if (latency := s.latency_s()) is not None)
    if not latencies:
        return {}
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return {
        "latency_p50_s": round(statistics.median(latencies), 2),
        "latency_p95_s": round(p95, 2),
        "latency_max_s": round(latencies[-1], 2),
    }


def _problem(session: Tracked, outage: tuple[float, float] | None) -> tuple[str, str] | None:
    """``(kind, text)`` for a session that broke the rule, ``None`` when it holds."""
    if not session.decisions:
        return "missing", f"{session.session_id} ({session.template}): no decision"
    if len(session.decisions) > 1:
        said = ", ".join(d.reason for d in session.decisions)
        return (
            "duplicate",
            f"{session.session_id} ({session.template}): {len(session.decisions)} decisions: {said}",
        )
    got = (session.decisions[0].outcome, session.decisions[0].reason)
    if got == session.expected:
        return None
    detail = f" [{session.decisions[0].detail}]" if session.decisions[0].detail else ""
    if got[1] in OUTAGE_REASONS and session.overlaps(outage):
        return "timeout", f"{session.session_id} ({session.template}): {got[1]} during the outage{detail}"
    return "wrong", f"{session.session_id} ({session.template}): {got} instead of {session.expected}{detail}"


def judge(
    scenario: str,
    tracked: Sequence[Tracked],
    *,
    outage: tuple[float, float] | None = None,
    baseline: Mapping[str, float] | None = None,
    max_lag: int = 0,
    duration_s: float = 0.0,
    extra: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> ScenarioReport:
    """Count missing, doubled, wrong and excused decisions; extra latency is over the baseline's median."""
    kinds: dict[str, list[str]] = {"missing": [], "duplicate": [], "wrong": [], "timeout": []}
    for session in tracked:
        problem = _problem(session, outage)
        if problem is not None:
            kinds[problem[0]].append(problem[1])
    baseline = baseline or {}
    extras = [
        latency - baseline.get(s.template, 0.0) for s in tracked if (latency := s.latency_s()) is not None
    ]
    return ScenarioReport(
        scenario=scenario,
        sessions=len(tracked),
        decisions=sum(len(s.decisions) for s in tracked),
        missing=len(kinds["missing"]),
        duplicates=len(kinds["duplicate"]),
        wrong=len(kinds["wrong"]),
        timeouts=len(kinds["timeout"]),
        max_extra_latency_s=max([0.0, *extras]),
        max_lag=max_lag,
        duration_s=duration_s,
        problems=tuple(kinds["missing"] + kinds["duplicate"] + kinds["wrong"] + kinds["timeout"]),
        extra=dict(extra or {}),
        error=error,
    )


_COLUMNS = (
    ("scenario", 18),
    ("sessions", 8),
    ("decisions", 9),
    ("missing", 7),
    ("duplicates", 10),
    ("wrong", 5),
    ("timeouts", 8),
    ("max extra latency", 17),
    ("max lag", 7),
    ("time", 6),
)


def format_table(reports: Sequence[ScenarioReport]) -> str:
    """A Markdown table, one row per scenario, as printed and as pasted into docs/reliability.md."""
    header = "| " + " | ".join(name.ljust(width) for name, width in _COLUMNS) + " |"
    rule = "|" + "|".join("-" * (width + 2) for _, width in _COLUMNS) + "|"
    rows = [header, rule]
    for r in reports:
        cells = (
            r.scenario,
            r.sessions,
            r.decisions,
            r.missing,
            r.duplicates,
            r.wrong,
            r.timeouts,
            f"{r.max_extra_latency_s:.1f} s",
            r.max_lag,
            f"{r.duration_s:.0f} s",
        )
        rows.append(
            "| " + " | ".join(str(c).ljust(w) for c, (_, w) in zip(cells, _COLUMNS, strict=True)) + " |"
        )
    return "\n".join(rows)


def format_problems(reports: Sequence[ScenarioReport], limit: int = 10) -> str:
    """The first few offending sessions of every scenario that had any."""
    lines = []
    for r in reports:
        for problem in r.problems[:limit]:
            lines.append(f"{r.scenario}: {problem}")
        if len(r.problems) > limit:
            lines.append(f"{r.scenario}: ... {len(r.problems) - limit} more")
    return "\n".join(lines)


def load_plan(templates: Sequence[str], sessions: int, stagger_s: float) -> list[tuple[str, float]]:
    """``(template, start offset)`` per session: templates in turn, one start every ``stagger_s``."""
    return [(templates[i % len(templates)], i * stagger_s) for i in range(sessions)]


def burst_times(count: int, step_ms: int = 1) -> list[int]:
    """Capture times of a flood session: all frames at once, as a client dumping a buffer would send them."""
    return [i * step_ms for i in range(count)]


# ---- shell: the broker, the workers, the load and the disturbances ---------------------------


@dataclass(frozen=True)
class ReliabilitySettings:
    """How big and how long: sessions per scenario, their spacing, the outage and the flood."""

    work_dir: Path
    sessions: int = 24
    stagger_s: float = 0.7
    disturb_at: float = 0.35  # of the load's start-up span: when the disturbance begins
    outage_s: float = 5.0
    flood_frames: int = 3000
    partitions: int = 4
    seed: int = 11
    templates: tuple[tuple[str, int], ...] = DEFAULT_TEMPLATES
    settle_s: float = 300.0  # how long to wait for the last decision of a scenario
    grace_s: float = 8.0  # how long to keep reading after it, so a late duplicate is seen
    brokers: int = 1  # 3: a replicated local cluster (replication factor 3, min.insync.replicas 2)
    base_port: int | None = None  # the cluster's first port (default: free ports)


@dataclass(frozen=True)
class Corpus:
    """Recorded sessions by template name, each with its undisturbed decision ``(outcome, reason)``."""

    recordings: Mapping[str, Any]
    expected: Mapping[str, tuple[str, str]]

    @property
    def names(self) -> list[str]:
        return sorted(self.recordings)


def build_corpus(settings: ReliabilitySettings) -> tuple[Corpus, Corpus]:
    """The paced corpus and its burst twin (same frames, all at once, for the flood), decided offline."""
    import numpy as np

    from devtools.media import fetch_media
    from evaluation.species import SPECIES, Draw, Studio
    from liveness.replay import replay_offline
    from processors.landmarks import FaceAnalyzer
    from producers.recording import RecordedSession, write_session

    out = settings.work_dir / f"corpus-{settings.seed}"
    paced: dict[str, Any] = {}
    burst: dict[str, Any] = {}
    with FaceAnalyzer() as analyzer:
        studio = Studio.open(fetch_media(), analyzer)
        for offset, (species, index) in enumerate(settings.templates):
            seed = settings.seed + offset
            draft = SPECIES[species](studio, Draw(random.Random(seed), np.random.default_rng(seed), index))
            name = f"{offset:02d}-{species}"
            frames = draft.frames
            paced[name] = RecordedSession.load(
                write_session(out / name, name, draft.challenge, 0, frames, draft.label())
            )
            squeezed = list(zip(burst_times(len(frames)), (jpeg for _, jpeg in frames), strict=True))
            burst[name] = RecordedSession.load(
                write_session(out / f"{name}-burst", name, draft.challenge, 0, squeezed, draft.label())
            )

        def decide(recordings: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
            decisions = {name: replay_offline(r, analyzer) for name, r in recordings.items()}
            return {name: (d.outcome, d.reason) for name, d in decisions.items()}

        return Corpus(paced, decide(paced)), Corpus(burst, decide(burst))


class Harness:
    """A broker of its own (so it can be stopped), a stack of worker processes on it, the sessions tracked."""

    def __init__(self, settings: ReliabilitySettings) -> None:
        from devtools.broker import BrokerConfig, LocalBroker, free_ports
        from devtools.stack import Stack
        from runtime.settings import KafkaSettings

        self.settings = settings
        data_dir = settings.work_dir / f"kafka-{secrets.token_hex(3)}"
        self.broker: Any
        if settings.brokers > 1:
            from devtools.cluster import LocalCluster, cluster_configs

            self.broker = LocalCluster(cluster_configs(data_dir, settings.brokers, settings.base_port))
        else:
            port, controller_port = free_ports(2)
            config = BrokerConfig(data_dir=data_dir, port=port, controller_port=controller_port)
            self.broker = LocalBroker(config)
        replicas = min(3, settings.brokers)
        kafka = KafkaSettings(
            bootstrap=self.broker.bootstrap,
            topic_prefix=f"r{secrets.token_hex(3)}.",
            partitions=settings.partitions,
            replication_factor=replicas,
            min_insync_replicas=min(2, replicas),
        )
        self.stack = Stack(kafka=kafka, work_dir=settings.work_dir / "stack")
        self.indices: dict[int, int] = {}  # id(worker) -> index (the verifier's data dir is per index)
        self.next_index = {"processor": 0, "verifier": 0}
        self.tracked: dict[str, Tracked] = {}
        self.burst: Corpus | None = None  # the flood's sessions, set by whoever built the corpus

    def __enter__(self) -> Harness:
        self.broker.start(timeout_s=120)
        try:
            self.stack.processors = self.stack.verifiers = 0
            self.stack.__enter__()
            self.add("processor")
            self.add("verifier")
            self.stack.wait_ready(timeout_s=240)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stack.close()
        self.broker.stop()

    @property
    def kafka(self) -> Any:
        return self.stack.kafka

    def add(self, role: str, index: int | None = None) -> Any:
        """Start one more worker of ``role``; a given ``index`` reuses that verifier's data dir (warm)."""
        if index is None:
            index = self.next_index[role]
            self.next_index[role] += 1
        worker = self.stack.add_worker(role, index)
        self.indices[id(worker)] = index
        return worker

    def live(self, role: str) -> list[Any]:
        return [w for w in self.stack.workers if w.role == role and w.alive()]

    def drop(self, worker: Any, *, kill: bool) -> int:
        """SIGKILL (a crash) or SIGTERM (a scale-down) one worker; returns its index."""
        worker.kill() if kill else worker.stop()
        self.stack.workers.remove(worker)
        return self.indices.pop(id(worker))

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of every live worker, from /proc."""
        out = {}
        for worker in self.stack.workers:
            if worker.alive():
                name = f"{worker.role}-{self.indices.get(id(worker), '?')}"
                out[name] = _rss_mb(worker.pid)
        return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


class LagProbe:
    """Samples the processors' lag on the frames topic (end offsets minus committed offsets)."""

    def __init__(self, kafka: Any, group_id: str) -> None:
        self.kafka, self.group_id = kafka, group_id
        self.samples: list[tuple[float, int]] = []

    @property
    def max_lag(self) -> int:
        return max((lag for _, lag in self.samples), default=0)

    def since(self, start_s: float) -> int:
        return max((lag for at, lag in self.samples if at >= start_s), default=0)

    async def run(self, interval_s: float = 2.0) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap, request_timeout_ms=10_000)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka.bootstrap, group_id=None)
        await admin.start()
        await consumer.start()
        try:
            while True:
                await self._sample(admin, consumer)
                await asyncio.sleep(interval_s)
        finally:
            await consumer.stop()
            await admin.close()

    async def _sample(self, admin: Any, consumer: Any) -> None:
        from aiokafka import TopicPartition

        topic = self.kafka.topics.frames
        try:
            committed = await asyncio.wait_for(admin.list_consumer_group_offsets(self.group_id), 10)
            partitions = [TopicPartition(topic, p) for p in range(self.kafka.partitions)]
            ends = await asyncio.wait_for(consumer.end_offsets(partitions), 10)
        except Exception:  # the broker may be down on purpose; a missed sample is not a failure
            return
        if not committed:  # the group coordinator is still loading (after a broker restart)
            return
        lag = sum(end - committed[tp].offset for tp, end in ends.items() if tp in committed)
        self.samples.append((time.monotonic(), max(lag, 0)))


class Load:
    """Publishes sessions paced and staggered, and follows their decisions."""

    def __init__(self, harness: Harness, scenario: str) -> None:
        from producers.challenge_service import ChallengeService

        self.harness, self.scenario = harness, scenario
        self.service = ChallengeService(harness.stack.keys)
        self.tracked: list[Tracked] = []
        self.failures: list[str] = []
        self.notes: dict[str, Any] = {}  # what the disturbance wants in the report (victim, recovery)

    async def publish(self, publisher: Any, corpus: Corpus, name: str, paced: bool = True) -> None:
        from producers.publisher import publish_recording

        sid = f"{self.scenario}-{len(self.tracked):04d}-{uuid.uuid4().hex[:6]}"
        session = Tracked(sid, name, corpus.expected[name], time.monotonic())
        self.tracked.append(session)
        self.harness.tracked[sid] = session
        try:
            await publish_recording(
                publisher, corpus.recordings[name], self.service, session_id=sid, paced=paced
            )
        except Exception as exc:  # counted in the report: a session the client could not even send
            self.failures.append(f"{sid}: publish failed: {exc!r}")
        session.ended_at_s = time.monotonic()

    async def run(self, publisher: Any, corpus: Corpus, plan: Sequence[tuple[str, float]]) -> None:
        start = time.monotonic()
        tasks = []
        for name, offset_s in plan:
            await asyncio.sleep(max(0.0, start + offset_s - time.monotonic()))
            tasks.append(asyncio.create_task(self.publish(publisher, corpus, name)))
        await asyncio.gather(*tasks)


async def watch_decisions(harness: Harness, stop: asyncio.Event) -> None:
    """Record every decision of a tracked session with the time it was read (duplicates included)."""
    from producers.decision_watcher import DecisionWatcher

    async with DecisionWatcher(harness.kafka) as watcher:
        while not stop.is_set():
            try:
                decisions = await watcher.poll(0.5)
            except Exception:  # the broker may be down on purpose
                await asyncio.sleep(0.5)
                continue
            now = time.monotonic()
            for decision in decisions:
                session = harness.tracked.get(decision.session_id)
                if session is not None:
                    failed = [f"{c.name}={c.value}>{c.threshold}" for c in decision.checks if not c.passed]
                    session.decisions.append(Seen(decision.outcome, decision.reason, now, " ".join(failed)))


async def settle(tracked: Sequence[Tracked], settle_s: float, grace_s: float) -> None:
    """Wait until every session has a decision (or time is up), then a grace period for duplicates."""
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and any(not s.decisions for s in tracked):
        await asyncio.sleep(0.5)
    await asyncio.sleep(grace_s)


# ---- disturbances: each returns the outage window (or None) -------------------------------------

Window = tuple[float, float] | None
Disturbance = Callable[[Harness, "Load", Any], Awaitable[Window]]


async def _restart(harness: Harness, role: str, *, warm: bool = True) -> Window:
    """SIGKILL the first live worker of ``role`` and start a replacement: on its data dir if ``warm``."""
    victim = harness.live(role)[0]
    started = time.monotonic()
    index = await asyncio.to_thread(harness.drop, victim, kill=True)
    harness.add(role, index if warm else None)
    await asyncio.to_thread(harness.stack.wait_ready, 240.0)
    return started, time.monotonic()


async def disturb_processor_kill(harness: Harness, load: Load, publisher: Any) -> Window:
    await _restart(harness, "processor")
    return None  # the broker kept every frame: no decision may change


async def disturb_verifier_kill(harness: Harness, load: Load, publisher: Any) -> Window:
    """The replacement starts on an empty data dir: its whole table comes back from the changelog."""
    await _restart(harness, "verifier", warm=False)
    return None


async def disturb_verifier_kill_warm(harness: Harness, load: Load, publisher: Any) -> Window:
    """The replacement reopens the killed worker's RocksDB, with whatever it wrote before dying."""
    await _restart(harness, "verifier", warm=True)
    return None


async def disturb_rebalance(harness: Harness, load: Load, publisher: Any) -> Window:
    """Scale both roles to two, then stop the original ones: their partitions (and rows) move twice."""
    originals = harness.live("processor")[:1] + harness.live("verifier")[:1]
    harness.add("processor")
    harness.add("verifier")
    await asyncio.to_thread(harness.stack.wait_ready, 240.0)
    await asyncio.sleep(harness.settings.outage_s)
    for worker in originals:
        await asyncio.to_thread(harness.drop, worker, kill=False)
    await asyncio.to_thread(harness.stack.wait_ready, 240.0)
    return None


async def disturb_broker_restart(harness: Harness, load: Load, publisher: Any) -> Window:
    started = time.monotonic()
    await asyncio.to_thread(harness.broker.stop)
    await asyncio.sleep(harness.settings.outage_s)
    await asyncio.to_thread(harness.broker.start, 120)
    await asyncio.to_thread(harness.stack.wait_ready, 240.0)
    return started, time.monotonic()


async def disturb_leader_kill(harness: Harness, load: Load, publisher: Any) -> Window:
    """SIGKILL the node leading most frames and decisions partitions; restart it ``outage_s`` later.

    The other replicas take over once the controller has fenced the dead node
    (``broker.session.timeout.ms``): no session may lose, double or change its
    decision. Frames sent to the dead leader wait out that failover, so the
    window is returned: a session whose frames it delayed past the verifier's
    clock-drift limit gets CLOCK_SKEW, and is reported (as a timeout), not hidden.
    """
    return await _leader_down(harness, load, crash=True)


async def disturb_leader_stop(harness: Harness, load: Load, publisher: Any) -> Window:
    """The same node, stopped cleanly (SIGTERM): a controlled shutdown hands its leaderships over first."""
    return await _leader_down(harness, load, crash=False)


async def _leader_down(harness: Harness, load: Load, *, crash: bool) -> Window:
    from devtools.cluster import LocalCluster
    from runtime.topics import topic_specs

    cluster = harness.broker
    if not isinstance(cluster, LocalCluster):
        raise RuntimeError("leader-kill needs a replicated cluster (liveness reliability --brokers 3)")
    busiest = [harness.kafka.topics.frames, harness.kafka.topics.decisions]
    leaders = await asyncio.to_thread(cluster.leaders, busiest)
    victim = leaders.most_common(1)[0][0]
    started = time.monotonic()
    await asyncio.to_thread(cluster.kill if crash else cluster.stop_node, victim)
    moved_s = await asyncio.to_thread(cluster.wait_leaders_moved, victim, busiest, 60)
    await asyncio.sleep(max(0.0, harness.settings.outage_s - (time.monotonic() - started)))
    await asyncio.to_thread(cluster.restart, victim, 120)
    restarted = time.monotonic()
    names = [spec.name for spec in topic_specs(harness.kafka, harness.stack.verifier_app_id)]
    in_sync_s = await asyncio.to_thread(cluster.wait_in_sync, names, 120)
    load.notes.update(
        node=victim,
        leaders_before={str(node): count for node, count in sorted(leaders.items())},
        leaders_moved_s=round(moved_s, 1),
        node_down_s=round(restarted - started, 1),
        catch_up_s=round(in_sync_s, 1),
    )
    return started, started + moved_s


async def disturb_flood(harness: Harness, load: Load, publisher: Any) -> Window:
    """Extra sessions whose frames arrive all at once: thousands of frames, far beyond the processors."""
    corpus = harness.burst
    assert corpus is not None, "the flood needs the burst corpus (build_corpus)"
    sent = 0
    names = corpus.names
    while sent < harness.settings.flood_frames:
        name = names[len(load.tracked) % len(names)]
        await load.publish(publisher, corpus, name, paced=False)
        sent += len(corpus.recordings[name].frames)
    return None


async def disturb_nothing(harness: Harness, load: Load, publisher: Any) -> Window:
    return None


DISTURBANCES: dict[str, Disturbance] = {
    "baseline": disturb_nothing,
    "processor-kill": disturb_processor_kill,
    "verifier-kill": disturb_verifier_kill,
    "verifier-kill-warm": disturb_verifier_kill_warm,
    "rebalance": disturb_rebalance,
    "broker-restart": disturb_broker_restart,
    "flood": disturb_flood,
    "leader-kill": disturb_leader_kill,
    "leader-stop": disturb_leader_stop,
    "soak": disturb_nothing,
}


async def _disturb(
    disturbance: Disturbance, harness: Harness, load: Load, publisher: Any
) -> tuple[Window, str | None]:
    """Run the disturbance; a failure of its own (a worker that never came back) is reported, not raised."""
    try:
        return await disturbance(harness, load, publisher), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"[:4000]


async def run_scenario(
    harness: Harness,
    corpus: Corpus,
    scenario: str,
    baseline: Mapping[str, float] | None = None,
    sessions: int | None = None,
    disturbances: Mapping[str, Disturbance] = DISTURBANCES,
) -> ScenarioReport:
    """One scenario: the load, the disturbance part-way into it, then wait for every decision and judge.

    ``disturbances`` maps scenario names to what they do (another deployment brings its own).
    """
    from producers.gateway.server import PUBLISH_BATCH_BYTES
    from producers.publisher import SessionPublisher

    settings = replace(harness.settings, sessions=sessions or harness.settings.sessions)
    load = Load(harness, scenario)
    plan = load_plan(corpus.names, settings.sessions, settings.stagger_s)
    probe = LagProbe(harness.kafka, harness.stack.processor_app_id)
    stop = asyncio.Event()
    started = time.monotonic()
    watcher = asyncio.create_task(watch_decisions(harness, stop))
    lag = asyncio.create_task(probe.run())
    await asyncio.sleep(2.0)  # the watcher must be positioned before the first decision
    # Many concurrent streams through one producer, as the gateway sends them: with one request per
    # broker in flight and acks=all on replicated topics, one frame per batch would fall behind.
    async with (
        SessionPublisher(harness.kafka, max_batch_bytes=PUBLISH_BATCH_BYTES) as publisher,
        SessionPublisher(harness.kafka, 50) as flood,
    ):
        loading = asyncio.create_task(load.run(publisher, corpus, plan))
        await asyncio.sleep(settings.disturb_at * settings.sessions * settings.stagger_s)
        window, error = await _disturb(disturbances[scenario], harness, load, flood)
        await loading
    await settle(load.tracked, settings.settle_s if error is None else 60.0, settings.grace_s)
    stop.set()
    lag.cancel()
    await asyncio.gather(watcher, lag, return_exceptions=True)
    report = judge(
        scenario,
        load.tracked,
        error=error,
        outage=window,
        baseline=baseline,
        max_lag=probe.max_lag,
        duration_s=time.monotonic() - started,
        extra={
            **load.notes,
            **latency_summary(load.tracked),
            **({"publish_failures": load.failures} if load.failures else {}),
        },
    )
    return report


async def run_all(
    settings: ReliabilitySettings, scenarios: Sequence[str], soak_s: float = 0.0
) -> list[ScenarioReport]:
    """Build the corpus, start the harness, run each scenario in order (``baseline`` sets the yardstick)."""
    corpus, burst = await asyncio.to_thread(build_corpus, settings)
    harness = Harness(settings)
    harness.burst = burst
    await asyncio.to_thread(harness.__enter__)
    try:
        return await _run_in(harness, corpus, scenarios, soak_s)
    finally:
        await asyncio.to_thread(harness.close)


async def _run_in(
    harness: Harness, corpus: Corpus, scenarios: Sequence[str], soak_s: float
) -> list[ScenarioReport]:
    reports = []
    baseline: dict[str, float] = {}
    for scenario in scenarios:
        report = await run_scenario(harness, corpus, scenario, baseline)
        if scenario == "baseline":
            baseline = baseline_latencies(
                [harness.tracked[s] for s in harness.tracked if s.startswith("baseline-")]
            )
            report = replace(report, max_extra_latency_s=0.0)
        reports.append(report)
        print(format_table([report]).splitlines()[-1], flush=True)
        if report.error is not None:  # the stack is broken: later scenarios would only repeat it
            print(f"{scenario} failed: {report.error}", flush=True)
            return reports
    if soak_s > 0:
        reports.append(await run_soak(harness, corpus, soak_s, baseline))
    return reports


async def run_soak(
    harness: Harness, corpus: Corpus, soak_s: float, baseline: Mapping[str, float]
) -> ScenarioReport:
    """A steady load for ``soak_s`` seconds; reports every worker's memory at start and end, and the lag."""
    sessions = max(1, int(soak_s / harness.settings.stagger_s))
    samples: list[dict[str, float]] = []
    sampling = asyncio.create_task(_sample_rss(harness, samples, interval_s=60.0))
    try:
        report = await run_scenario(harness, corpus, "soak", baseline, sessions=sessions)
    finally:
        sampling.cancel()
    extra = {"rss_start_mb": samples[0], "rss_end_mb": harness.rss_mb(), "rss_mb_per_minute": samples}
    return replace(report, extra={**report.extra, **extra})


async def _sample_rss(harness: Harness, samples: list[dict[str, float]], interval_s: float) -> None:
    while True:
        samples.append(harness.rss_mb())
        await asyncio.sleep(interval_s)


def format_rss(samples: Sequence[Mapping[str, float]]) -> str:
    """One line per worker: its resident memory at each sample, in MB."""
    workers = sorted({name for sample in samples for name in sample})
    return "\n".join(f"{w}: " + " ".join(f"{s.get(w, 0):.0f}" for s in samples) for w in workers)


def main(args: Any) -> int:
    """`liveness reliability`: run the scenarios, print the table, write the JSON; 0 when all held."""
    import logging

    import orjson

    # aiokafka logs every failed reconnect, thousands a second while the broker is down on purpose.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    brokers = getattr(args, "brokers", 1)
    scenarios = args.scenarios or (["baseline", *CLUSTER_SCENARIOS] if brokers > 1 else list(SCENARIOS))
    unknown = [s for s in scenarios if s not in DISTURBANCES]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    settings = ReliabilitySettings(
        work_dir=args.work_dir.resolve(),
        sessions=args.sessions,
        outage_s=args.outage,
        flood_frames=args.flood_frames,
        brokers=brokers,
    )
    print(format_table([]), flush=True)
    reports = asyncio.run(run_all(settings, scenarios, soak_s=args.soak))
    print("\n" + format_table(reports))
    if problems := format_problems(reports):
        print("\n" + problems)
    for report in reports:
        if report.error:
            print(f"\n{report.scenario}: {report.error}")
    for report in reports:
        if "leaders_moved_s" in report.extra or report.scenario == "baseline":
            print(f"{report.scenario}: {dict(report.extra)}")
    for report in reports:
        if "rss_start_mb" in report.extra:
            print(f"\nsoak RSS MB start {report.extra['rss_start_mb']} end {report.extra['rss_end_mb']}")
            print("RSS MB every minute:\n" + format_rss(report.extra["rss_mb_per_minute"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps([r.to_dict() for r in reports], option=orjson.OPT_INDENT_2))
    return 0 if all(r.ok for r in reports) else 1
