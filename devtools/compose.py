"""Drive deploy/compose.yaml from the host: bring the stack up, decide the demo sessions through it.

The stack runs in Docker (three brokers, processors, verifier, gateway,
Prometheus); host-side tools reach the brokers on their published ports
(``HOST_BOOTSTRAP``) and Prometheus on ``PROMETHEUS_URL``. Containers are found
by their compose labels, so this works with Debian's ``docker-compose`` 1.29
and with compose v2 (``docker compose``) alike.

    python -m devtools.compose up [--processors N] [--no-demo]
    python -m devtools.compose demo | targets | down
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.settings import KafkaSettings, child_env, token_secret_from_env
from schemas.tokens import TokenKeys

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
PROJECT = "liveness"
# Node id -> compose service and the host port Docker publishes its EXTERNAL listener on.
BROKERS = {1: ("kafka-1", 29092), 2: ("kafka-2", 29093), 3: ("kafka-3", 29094)}
HOST_BOOTSTRAP = ",".join(f"127.0.0.1:{port}" for _, port in BROKERS.values())
PROMETHEUS_URL = "http://127.0.0.1:9090"
# The Prometheus jobs of deploy/prometheus/prometheus.yml: one per worker role.
WORKER_JOBS = ("liveness-processor", "liveness-verifier", "liveness-gateway")


def compose_command() -> list[str]:
    """Debian's ``docker-compose`` (v1) when installed, else the v2 plugin."""
    return ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


def token_secret(state_dir: Path) -> str:
    """``$LIVENESS_TOKEN_SECRET``, else the one this checkout's stack was started with (made once)."""
    if secret := token_secret_from_env():
        return secret
    path = state_dir / "token-secret"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _docker(*args: str, timeout_s: float = 120) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class ComposeStack:
    """The compose project on this Docker host; ``kafka`` and ``keys`` reach it from the host."""

    secret: str
    partitions: int = 6
    project: str = PROJECT
    compose_file: Path = COMPOSE_FILE
    kafka: KafkaSettings = field(init=False)
    keys: TokenKeys = field(init=False)

    def __post_init__(self) -> None:
        self.kafka = KafkaSettings(
            bootstrap=HOST_BOOTSTRAP,
            partitions=self.partitions,
            replication_factor=3,
            min_insync_replicas=2,
        )
        self.keys = TokenKeys(self.secret.encode())

    processor_app_id = "liveness-processor"  # the workers' default ids: the stack uses no topic prefix
    verifier_app_id = "liveness-verifier"

    def compose(self, *args: str, timeout_s: float = 600) -> str:
        env = child_env({"LIVENESS_TOKEN_SECRET": self.secret, "LIVENESS_PARTITIONS": str(self.partitions)})
        command = [*compose_command(), "-p", self.project, "-f", str(self.compose_file), *args]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:1] + list(args))} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def up(self, processors: int = 2, timeout_s: float = 300) -> float:
        """Start (or complete) the stack and wait for every worker; returns the seconds it took."""
        started = time.monotonic()
        self.compose("up", "-d", "--scale", f"processor={processors}")
        self.wait_ready(timeout_s, processors=processors)
        return time.monotonic() - started

    def down(self) -> None:
        """Remove the containers and the volumes (broker logs, verifier table, Prometheus data)."""
        self.compose("down", "-v", "--remove-orphans")

    def scale(self, processors: int) -> None:
        """Start or stop processors (a stopped one gets SIGTERM and leaves its group cleanly)."""
        self.compose(
            "up", "-d", "--no-deps", "--no-recreate", "--scale", f"processor={processors}", "processor"
        )

    def containers(self, service: str, *, running: bool = True) -> list[str]:
        labels = [
            f"label=com.docker.compose.project={self.project}",
            f"label=com.docker.compose.service={service}",
        ]
        filters = [arg for label in labels for arg in ("--filter", label)]
        return _docker("ps", "-q", *([] if running else ["-a"]), *filters).split()

    def kill(self, service: str) -> None:
        """SIGKILL every container of ``service``: a crash, no clean shutdown."""
        for container in self.containers(service):
            _docker("kill", container)

    def stop(self, service: str) -> None:
        for container in self.containers(service):
            _docker("stop", container)

    def start(self, service: str) -> None:
        for container in self.containers(service, running=False):
            _docker("start", container)

    def wait_ready(self, timeout_s: float = 240.0, processors: int | None = None) -> None:
        """Block until the processors' and the verifier's consumer groups are stable and complete."""
        from liveness.workers import wait_for_group

        count = processors if processors is not None else len(self.containers("processor"))

        async def wait() -> None:
            await wait_for_group(self.kafka.bootstrap, self.processor_app_id, count, timeout_s)
            await wait_for_group(self.kafka.bootstrap, self.verifier_app_id, 1, timeout_s)

        asyncio.run(wait())


def prometheus_query(query: str, url: str = PROMETHEUS_URL) -> list[dict[str, Any]]:
    """The result vector of an instant query through Prometheus' HTTP API."""
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(address, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus: {body}")
    return list(body["data"]["result"])


def scraped_workers(url: str = PROMETHEUS_URL) -> dict[str, float]:
    """``job/instance -> up`` for every liveness worker Prometheus scrapes (1: its /metrics answered)."""
    result = prometheus_query('up{job=~"liveness-.*"}', url)
    return {f"{r['metric']['job']}/{r['metric']['instance']}": float(r["value"][1]) for r in result}


def wait_scraped(processors: int, timeout_s: float = 90, url: str = PROMETHEUS_URL) -> dict[str, float]:
    """Block until Prometheus has scraped every worker successfully (DNS discovery, then a scrape)."""
    deadline = time.monotonic() + timeout_s
    want = {"liveness-processor": processors, "liveness-verifier": 1, "liveness-gateway": 1}
    while True:
        try:
            up = scraped_workers(url)
        except OSError:
            up = {}
        counts = {
            job: sum(1 for key, v in up.items() if key.startswith(job + "/") and v == 1) for job in want
        }
        # Also wait out a removed container's target (down until the next DNS refresh drops it).
        if (counts == want and all(v == 1 for v in up.values())) or time.monotonic() > deadline:
            return up
        time.sleep(2)


async def decide(stack: ComposeStack, recordings: Sequence[Any], timeout_s: float = 180) -> list[Any]:
    """Publish recordings concurrently, paced, under fresh session ids; each one's decision, in order.

    With the gateway's batch size: on topics with three replicas and ``acks=all`` each produce
    request waits for the followers, and one frame per request falls behind the capture clock.
    """
    from producers.challenge_service import ChallengeService
    from producers.decision_watcher import DecisionWatcher
    from producers.gateway.server import PUBLISH_BATCH_BYTES
    from producers.publisher import SessionPublisher, publish_recording

    service = ChallengeService(stack.keys)
    ids = [f"{r.session_id}-{secrets.token_hex(4)}" for r in recordings]
    async with (
        DecisionWatcher(stack.kafka) as watcher,
        SessionPublisher(stack.kafka, max_batch_bytes=PUBLISH_BATCH_BYTES) as publisher,
    ):
        await asyncio.gather(
            *(
                publish_recording(publisher, recording, service, session_id=sid)
                for recording, sid in zip(recordings, ids, strict=True)
            )
        )
        decisions = await watcher.wait_for(set(ids), timeout_s)
    return [decisions[sid] for sid in ids]


def run_demo(stack: ComposeStack, work_dir: Path) -> int:
    """The demo's sessions, published from the host to the stack's brokers, decided in its containers."""
    from liveness.demo import format_decision, make_sample_sessions

    recordings = make_sample_sessions(work_dir / "sessions")
    print(f"publishing {len(recordings)} sessions to {stack.kafka.bootstrap} ...", flush=True)
    decisions = asyncio.run(decide(stack, recordings))
    pairs = list(zip(recordings, decisions, strict=True))
    for recording, decision in pairs:
        print(format_decision(recording, decision))
    as_labelled = [(d.outcome == "pass") == bool((r.label or {}).get("genuine")) for r, d in pairs]
    return 0 if all(as_labelled) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.compose", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("up", "demo", "targets", "down"))
    parser.add_argument("--processors", type=int, default=2)
    parser.add_argument("--no-demo", action="store_true", help="up: start the stack only")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "out" / "compose")
    args = parser.parse_args(argv)
    stack = ComposeStack(token_secret(args.work_dir))
    if args.command == "down":
        stack.down()
        return 0
    if args.command == "up":
        print(f"starting {COMPOSE_FILE.relative_to(ROOT)} ({' '.join(compose_command())}) ...", flush=True)
        took = stack.up(args.processors)
        print(
            f"stack ready in {took:.0f} s: brokers {HOST_BOOTSTRAP}, Prometheus {PROMETHEUS_URL}", flush=True
        )
    if args.command in ("up", "targets"):
        for target, up in sorted(wait_scraped(args.processors).items()):
            print(f"prometheus up{{{target}}} = {up:g}")
    if args.command == "demo" or (args.command == "up" and not args.no_demo):
        return run_demo(stack, args.work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
