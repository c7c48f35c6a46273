"""150 genuine clients stream real face frames at 10 fps through one gateway, with and without a broker stall.

No client may be refused as too fast (4429), every session must be decided
exactly once, and the gateway's memory is reported. See ``devtools.gateway_load``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.gateway_load import GatewayHarness, LoadReport, format_report, run_load

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

STREAMS = 150
FRAMES = 40  # 4 s at 10 fps; started over 2 s, so all 150 stream at once for 2 s


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayHarness]:
    with GatewayHarness(Path(tmp_path_factory.mktemp("gateway-load"))) as running:
        yield running


@pytest.fixture(scope="module")
def reports() -> list[LoadReport]:
    return []


def _check(report: LoadReport, reports: list[LoadReport]) -> None:
    reports.append(report)
    print("\n" + format_report(reports))
    assert report.errors == (), report.errors[:5]
    assert report.refused_4429 == 0
    assert set(report.close_codes) == {"1000"}, report.close_codes
    assert (report.undecided, report.decided_twice) == (0, 0)
    assert report.frames_sent > STREAMS * FRAMES // 2  # a stream decided early stops sending


def test_gateway_150_genuine_streams_none_refused_each_decided_once(
    harness: GatewayHarness, reports: list[LoadReport]
) -> None:
    _check(asyncio.run(run_load(harness, "steady", STREAMS, FRAMES)), reports)


def test_gateway_150_streams_broker_paused_2_s_client_never_blamed(
    harness: GatewayHarness, reports: list[LoadReport]
) -> None:
    """The broker is stopped (SIGSTOP) for 2 s while every stream is sending: our stall, not theirs."""
    _check(asyncio.run(run_load(harness, "broker paused 2 s", STREAMS, FRAMES, pause=(2.0, 2.0))), reports)
