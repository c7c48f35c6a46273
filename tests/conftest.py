"""Shared pytest fixtures: the real Kafka broker for integration tests, unique topic prefixes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devtools.broker import BrokerConfig, LocalBroker, free_ports, wait_until_ready

# A cold start takes ~3 s; the margin is for a first run that also downloads the jars
# (not counted) and for a busy 2-core CI machine.
_BROKER_START_TIMEOUT_S = 90


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Address of a real Kafka broker: $LIVENESS_BOOTSTRAP (CI's), else one started for this session.

    Never skips: a broker that cannot be started or reached fails the tests that need it.
    """
    external = os.environ.get("LIVENESS_BOOTSTRAP")
    if external:
        wait_until_ready(external, timeout_s=30)
        yield external
        return
    port, controller_port = free_ports(2)
    config = BrokerConfig(
        data_dir=tmp_path_factory.mktemp("kafka"), port=port, controller_port=controller_port
    )
    broker = LocalBroker(config)
    broker.start(timeout_s=_BROKER_START_TIMEOUT_S)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def unique_prefix() -> str:
    """A topic-name prefix no other test uses, so tests share one broker without seeing each other's data."""
    return f"t{uuid.uuid4().hex[:8]}."
