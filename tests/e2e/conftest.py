"""Shared by the browser tests: one FaceMesh analyzer, one processor + verifier stack."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from devtools.stack import Stack
from processors.landmarks import FaceAnalyzer
from runtime.settings import KafkaSettings


@pytest.fixture(scope="session")
def analyzer() -> Iterator[FaceAnalyzer]:
    with FaceAnalyzer() as face_analyzer:
        yield face_analyzer


@pytest.fixture(scope="session")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Real processor and verifier processes on topics of their own, shared by every browser test."""
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"e{secrets.token_hex(4)}.", partitions=2)
    with Stack(kafka=kafka, work_dir=tmp_path_factory.mktemp("stack")) as running:
        yield running
        for worker in running.workers:
            assert worker.alive(), f"{worker.role} died:\n{worker.log_tail()}"
