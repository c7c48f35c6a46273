"""Start and stop worker processes (processor, verifier) as real OS processes, and wait until they serve."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from runtime.settings import child_env


class WorkerProcess:
    """One ``liveness <role>`` process with its own log file; ``stop`` is SIGTERM, then SIGKILL."""

    def __init__(self, role: str, args: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.role, self.args, self.env, self.log_path = role, list(args), dict(env), log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = [sys.executable, "-m", "liveness.cli", self.role, *self.args]
        self.process = subprocess.Popen(
            command,
            env=child_env(self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


async def wait_for_group(
    bootstrap: str,
    group_id: str,
    members: int,
    timeout_s: float = 90.0,
    security: Mapping[str, Any] | None = None,
) -> None:
    """Wait until a consumer group is Stable with ``members`` members, each with partitions assigned.

    ``security``: the SASL/SSL options of ``KafkaSettings.client_options``.
    """
    options = {key: value for key, value in (security or {}).items() if key != "bootstrap_servers"}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                described = await admin.describe_consumer_groups([group_id])
            except KafkaError as exc:
                if not exc.retriable:  # e.g. the coordinator is still being elected on a new broker
                    raise
            else:
                if _stable_with(described, members):
                    return
            await asyncio.sleep(0.5)
        raise TimeoutError(
            f"consumer group {group_id} did not reach {members} stable members in {timeout_s}s"
        )
    finally:
        await admin.close()


def _stable_with(described: object, members: int) -> bool:
    for response in described if isinstance(described, list) else [described]:
        for group in getattr(response, "groups", []):
            # v0+ response tuple: (error_code, group_id, state, protocol_type, protocol, members, ...)
            state, group_members = group[2], group[5]
            if state == "Stable" and len(group_members) >= members:
                return True
    return False
