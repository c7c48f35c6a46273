"""A local three-node Apache Kafka cluster (KRaft, every node broker and controller) for failover tests.

Three ``LocalBroker`` JVMs on 127.0.0.1 with their own ports and data dirs,
formatted with one cluster id and one static quorum; Kafka's own topics get
three replicas (two in sync), so any one node can die. ``kill`` and
``restart`` are the disturbances; ``leaders`` and ``wait_in_sync`` read the
partition layout the way an operator would (describe topics).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from devtools.broker import (
    BrokerConfig,
    BrokerStartError,
    LocalBroker,
    default_cache_dir,
    free_ports,
    random_cluster_id,
    run_coroutine,
)

# Three JVMs share a small machine with the workers: a smaller heap than a lone dev broker's.
CLUSTER_HEAP_OPTS = "-Xms256m -Xmx768m"


def cluster_configs(
    data_dir: Path,
    nodes: int = 3,
    base_port: int | None = None,
    cache_dir: Path | None = None,
    heap_opts: str = CLUSTER_HEAP_OPTS,
) -> list[BrokerConfig]:
    """A ``BrokerConfig`` per node: ports ``base_port + 2i`` (client) and ``+ 1`` (controller), or free."""
    ports = list(range(base_port, base_port + 2 * nodes)) if base_port else free_ports(2 * nodes)
    client, controller = ports[0::2], ports[1::2]
    voters = ",".join(f"{i + 1}@127.0.0.1:{controller[i]}" for i in range(nodes))
    cluster_id = random_cluster_id()
    return [
        BrokerConfig(
            data_dir=data_dir / f"node-{i + 1}",
            port=client[i],
            controller_port=controller[i],
            cache_dir=cache_dir or default_cache_dir(),
            heap_opts=heap_opts,
            node_id=i + 1,
            voters=voters,
            internal_replicas=min(3, nodes),
            cluster_id=cluster_id,
        )
        for i in range(nodes)
    ]


class LocalCluster:
    """``with LocalCluster(configs) as cluster:`` starts every node and stops them all on exit."""

    def __init__(self, configs: Sequence[BrokerConfig]) -> None:
        self.brokers = {config.node_id: LocalBroker(config) for config in configs}
        self.startup_s: float | None = None

    @property
    def bootstrap(self) -> str:
        """Every node's address, comma-separated: clients survive any one of them being down."""
        return ",".join(broker.bootstrap for broker in self.brokers.values())

    def start(self, timeout_s: float = 120) -> None:
        """Start every node at once (a static quorum elects no controller before a majority is up)."""
        started_at = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.brokers)) as pool:
            futures = [pool.submit(broker.start, timeout_s) for broker in self.brokers.values()]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                concurrent.futures.wait(futures)
                self.stop()
                raise
        self.wait_for_nodes(len(self.brokers), timeout_s)
        self.startup_s = time.monotonic() - started_at

    def stop(self) -> None:
        """SIGTERM every node at once: one by one, the last ones wait out their timeout for a quorum."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.brokers)) as pool:
            list(pool.map(lambda broker: broker.stop(), self.brokers.values()))

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no clean shutdown, no leadership handed over."""
        self.brokers[node_id].kill()

    def stop_node(self, node_id: int) -> None:
        """SIGTERM one node: a controlled shutdown moves its leaderships to the other replicas first."""
        self.brokers[node_id].stop()

    def restart(self, node_id: int, timeout_s: float = 120) -> None:
        """Start a killed node again on its data dir; returns once the cluster lists every node."""
        self.brokers[node_id].start(timeout_s)
        self.wait_for_nodes(len(self.brokers), timeout_s)

    def wait_for_nodes(self, count: int, timeout_s: float) -> None:
        """Block until the cluster's metadata lists ``count`` live brokers."""
        deadline = time.monotonic() + timeout_s
        while (listed := len(self.describe()["brokers"])) < count:
            if time.monotonic() > deadline:
                raise BrokerStartError(f"the cluster lists {listed} of {count} brokers after {timeout_s} s")
            time.sleep(0.5)

    def describe(self) -> dict[str, Any]:
        from liveness.topics_admin import _describe_cluster

        return run_coroutine(_describe_cluster(self.live_bootstrap(), request_timeout_ms=10_000))

    def live_bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers.values() if b.running)

    def partitions(self, topics: Sequence[str], timeout_s: float = 30) -> list[dict[str, Any]]:
        """``{"topic", "partition", "leader", "replicas", "isr"}`` for every partition of ``topics``.

        Retried: right after a node died the client may still pick it for the request.
        """
        from aiokafka.errors import KafkaError

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return run_coroutine(_describe_partitions(self.live_bootstrap(), topics))
            except (KafkaError, OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def leaders(self, topics: Sequence[str]) -> Counter[int]:
        """How many partitions of ``topics`` each node leads."""
        return Counter(p["leader"] for p in self.partitions(topics) if p["leader"] >= 0)

    def wait_leaders_moved(self, node_id: int, topics: Sequence[str], timeout_s: float = 60) -> float:
        """Block until ``node_id`` leads no partition of ``topics``; return how long that took.

        After a crash that is the partitions' unavailability: the controller must
        first fence the silent node (``broker.session.timeout.ms``), then elect.
        """
        started = time.monotonic()
        while any(p["leader"] == node_id for p in self.partitions(topics)):
            if time.monotonic() - started > timeout_s:
                raise BrokerStartError(f"node {node_id} still leads partitions after {timeout_s} s")
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_in_sync(self, topics: Sequence[str], timeout_s: float = 60) -> float:
        """Block until every replica of ``topics`` is in sync again; return how long that took."""
        started = time.monotonic()
        while True:
            lagging = [p for p in self.partitions(topics) if len(p["isr"]) < len(p["replicas"])]
            if not lagging:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise BrokerStartError(f"{len(lagging)} partitions under-replicated after {timeout_s} s")
            time.sleep(0.5)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _describe_partitions(bootstrap: str, topics: Sequence[str]) -> list[dict[str, Any]]:
    from liveness.topics_admin import _admin

    async with _admin(bootstrap, request_timeout_ms=10_000) as admin:
        described = await asyncio.wait_for(admin.describe_topics(list(topics)), 15)
    return [
        {
            "topic": topic["topic"],
            "partition": p["partition"],
            "leader": p["leader"],
            "replicas": list(p["replicas"]),
            "isr": list(p["isr"]),
        }
        for topic in described
        for p in topic["partitions"]
    ]
