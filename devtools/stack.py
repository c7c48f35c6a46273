"""A whole pipeline on one machine: broker (if none is given), topics, processor and verifier processes.

Used by the demo, the integration tests and the benchmarks, so all three run
the same real processes that a deployment runs.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from devtools.broker import BrokerConfig, LocalBroker, free_ports
from liveness.topics_admin import create_topics
from liveness.workers import WorkerProcess, wait_for_group
from runtime.settings import KafkaSettings, existing_bootstrap_from_env
from schemas.signatures import DecisionSigner, private_key_text
from schemas.tokens import TokenKeys


def _new_signer() -> DecisionSigner:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return DecisionSigner(Ed25519PrivateKey.generate())


def security_env(kafka: KafkaSettings) -> dict[str, str]:
    """The ``LIVENESS_*`` security variables of ``kafka`` (none for the default PLAINTEXT)."""
    values = {
        "LIVENESS_SECURITY_PROTOCOL": kafka.security_protocol
        if kafka.security_protocol != "PLAINTEXT"
        else None,
        "LIVENESS_SASL_MECHANISM": kafka.sasl_mechanism,
        "LIVENESS_SASL_USERNAME": kafka.sasl_username,
        "LIVENESS_SASL_PASSWORD": kafka.sasl_password,
        "LIVENESS_SSL_CAFILE": kafka.ssl_cafile,
    }
    return {name: value for name, value in values.items() if value}


@dataclass
class Stack:
    """Start with ``with Stack(...) as stack:``; ``stack.kafka`` and ``stack.keys`` then reach it."""

    kafka: KafkaSettings
    work_dir: Path
    processors: int = 1
    verifiers: int = 1
    keys: TokenKeys = field(default_factory=lambda: TokenKeys(secrets.token_hex(32).encode()))
    signer: DecisionSigner = field(default_factory=_new_signer)  # the verifiers sign decisions with it
    broker: LocalBroker | None = None
    workers: list[WorkerProcess] = field(default_factory=list)

    @classmethod
    def local(
        cls, work_dir: Path, bootstrap: str | None = None, prefix: str | None = None, partitions: int = 4
    ) -> Stack:
        """A stack on ``bootstrap`` (or ``$LIVENESS_BOOTSTRAP``), else on a broker of its own."""
        prefix = prefix if prefix is not None else f"s{secrets.token_hex(3)}."
        bootstrap = bootstrap or existing_bootstrap_from_env() or ""
        return cls(KafkaSettings(bootstrap=bootstrap, topic_prefix=prefix, partitions=partitions), work_dir)

    def env(self) -> dict[str, str]:
        env = {
            "LIVENESS_BOOTSTRAP": self.kafka.bootstrap,
            "LIVENESS_TOPIC_PREFIX": self.kafka.topic_prefix,
            "LIVENESS_PARTITIONS": str(self.kafka.partitions),
            "LIVENESS_REPLICATION_FACTOR": str(self.kafka.replication_factor),
            "LIVENESS_MIN_INSYNC_REPLICAS": str(self.kafka.min_insync_replicas),
            "LIVENESS_TOKEN_SECRET": self.keys.current.decode(),
            "LIVENESS_DECISION_SIGNING_KEY": private_key_text(self.signer.private_key),
        }
        return {**env, **security_env(self.kafka)}

    def __enter__(self) -> Stack:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.kafka.bootstrap:
                self._start_broker()
            asyncio.run(create_topics(self.kafka, self.verifier_app_id))
            for index in range(self.processors):
                self.add_worker("processor", index)
            for index in range(self.verifiers):
                self.add_worker("verifier", index)
            self.wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    @property
    def processor_app_id(self) -> str:
        return f"{self.kafka.topic_prefix}liveness-processor"

    @property
    def verifier_app_id(self) -> str:
        return f"{self.kafka.topic_prefix}liveness-verifier"

    def add_worker(self, role: str, index: int) -> WorkerProcess:
        """Start one more worker process of ``role`` (a rebalance follows)."""
        args = ["--data-dir", str(self.work_dir / f"verifier-{index}")] if role == "verifier" else []
        log_path = self.work_dir / f"{role}-{index}.log"
        worker = WorkerProcess(role, args, self.env(), log_path).start()
        self.workers.append(worker)
        return worker

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Block until every live worker has joined its consumer group."""
        processors = sum(1 for w in self.workers if w.role == "processor" and w.alive())
        verifiers = sum(1 for w in self.workers if w.role == "verifier" and w.alive())

        async def wait() -> None:
            security = self.kafka.client_options()
            if processors:
                await wait_for_group(
                    self.kafka.bootstrap, self.processor_app_id, processors, timeout_s, security
                )
            if verifiers:
                await wait_for_group(
                    self.kafka.bootstrap, self.verifier_app_id, verifiers, timeout_s, security
                )

        async def wait_unless_a_worker_dies() -> None:
            waiting = asyncio.ensure_future(wait())
            while not waiting.done():
                if any(not w.alive() for w in self.workers):
                    waiting.cancel()
                    raise RuntimeError("a worker exited during start-up")
                await asyncio.sleep(0.2)
            waiting.result()

        try:
            asyncio.run(wait_unless_a_worker_dies())
        except (TimeoutError, RuntimeError) as exc:
            tails = "\n".join(f"--- {w.role} {w.log_path}\n{w.log_tail()}" for w in self.workers)
            raise RuntimeError(f"{exc}\n{tails}") from None

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def _start_broker(self) -> None:
        port, controller_port = free_ports(2)
        data_dir = Path(tempfile.mkdtemp(prefix="kafka-", dir=self.work_dir))
        self.broker = LocalBroker(BrokerConfig(data_dir=data_dir, port=port, controller_port=controller_port))
        self.broker.start(timeout_s=90)
        self.kafka = replace(self.kafka, bootstrap=self.broker.bootstrap)
