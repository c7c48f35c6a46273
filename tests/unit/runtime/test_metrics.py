"""The metrics module: what each event counts, lag arithmetic, the health rule, and the real HTTP endpoint."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from runtime import metrics
from schemas.events import LANDMARK_SUBSET, Box, Check, Decision, Face, Observation


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def face() -> Face:
    return Face(Box(100, 80, 200, 240), (200, 200), 0.0, 0.0, 0.0, (0.0,) * (3 * len(LANDMARK_SUBSET)))


def observation(faces: int = 1, error: str | None = None, received_at_ms: int = 1_000) -> Observation:
    return Observation(
        "s1", 0, received_at_ms, received_at_ms, 640, 480, (face(),) * faces, inference_ms=8.0, error=error
    )


@pytest.mark.parametrize(
    ("faces", "error", "expected"),
    [
        (0, None, ("ok", "NO_FACE")),
        (1, None, ("ok", "ONE_FACE")),
        (2, None, ("ok", "MULTIPLE_FACES")),
        (0, "CORRUPT_FRAME", ("error", "CORRUPT_FRAME")),
    ],
)
def test_observation_outcome_faces_and_errors_map_to_labels(
    faces: int, error: str | None, expected: tuple[str, str]
) -> None:
    assert metrics.observation_outcome(observation(faces, error)) == expected


def test_record_frame_one_face_counts_processed_inference_and_latency() -> None:
    before = (
        sample("liveness_frames_processed_total"),
        sample("liveness_observations_total", outcome="ok", reason="ONE_FACE"),
        sample("liveness_inference_seconds_count"),
        sample("liveness_inference_seconds_sum"),
        sample("liveness_frame_latency_seconds_count"),
    )
    metrics.record_frame(observation(1, received_at_ms=1_000), None, now_ms=1_250)
    after = (
        sample("liveness_frames_processed_total"),
        sample("liveness_observations_total", outcome="ok", reason="ONE_FACE"),
        sample("liveness_inference_seconds_count"),
        sample("liveness_inference_seconds_sum"),
        sample("liveness_frame_latency_seconds_count"),
    )
    deltas = [round(a - b, 6) for a, b in zip(after, before, strict=True)]
    assert deltas == [1, 1, 1, 0.008, 1]


def test_record_frame_unreadable_counts_dead_letter_not_processed() -> None:
    processed = sample("liveness_frames_processed_total")
    letters = sample("liveness_dead_letters_total", role="processor", reason="CORRUPT_FRAME")
    metrics.record_frame(observation(0, "CORRUPT_FRAME"), "CORRUPT_FRAME", now_ms=2_000)
    metrics.record_frame(None, "CORRUPT_FRAME", now_ms=2_000)  # bad headers: no session, no observation
    assert sample("liveness_frames_processed_total") == processed
    assert sample("liveness_dead_letters_total", role="processor", reason="CORRUPT_FRAME") == letters + 2


def test_record_decision_counts_by_outcome_reason_type_and_duration() -> None:
    labels = {"outcome": "fail", "reason": "PLANAR_MOTION", "challenge_type": "turn"}
    count = sample("liveness_decisions_total", **labels)
    durations = sample("liveness_decision_duration_seconds_sum", outcome="fail")
    decision = Decision(
        "s2", "fail", "PLANAR_MOTION", "turn", (Check("h", 0.01, 0.012, False),), 30, 1, 0, 6_500
    )
    metrics.record_decision(decision)
    assert sample("liveness_decisions_total", **labels) == count + 1
    assert sample("liveness_decision_duration_seconds_sum", outcome="fail") == pytest.approx(durations + 6.5)


def test_partition_lag_end_minus_next_offset_skips_unknown_partitions() -> None:
    ends = {("frames", 0): 100, ("frames", 1): 50, ("frames", 2): 7}
    upcoming = {("frames", 0): 90, ("frames", 1): 50, ("frames", 2): None}
    assert metrics.partition_lag(ends, upcoming) == {("frames", 0): 10, ("frames", 1): 0}


def test_lag_gauge_rebalance_drops_partitions_no_longer_owned() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("lag", "test", ["group", "topic", "partition"], registry=registry)
    lag = metrics.LagGauge("g", gauge)
    lag.publish({("frames", 0): 5, ("frames", 1): 3})
    lag.publish({("frames", 1): 2, ("frames", 3): 9})
    shown = {s.labels["partition"]: s.value for m in registry.collect() for s in m.samples}
    assert shown == {"1": 2, "3": 9}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_health_status_before_first_beat_then_fresh_then_stale() -> None:
    clock = FakeClock()
    heartbeat = metrics.Heartbeat(clock)
    statuses = [metrics.health_status(heartbeat, max_age_s=30)[0]]
    heartbeat.beat()
    clock.now += 29
    statuses.append(metrics.health_status(heartbeat, max_age_s=30)[0])
    clock.now += 2
    statuses.append(metrics.health_status(heartbeat, max_age_s=30)[0])
    assert [s.split()[0] for s in statuses] == ["503", "200", "503"]
    assert metrics.health_status(None, 30)[0] == "200 OK"


async def test_watch_event_loop_beats_and_observes_lag() -> None:
    heartbeat = metrics.Heartbeat()
    observed = sample("liveness_event_loop_lag_seconds_count")
    task = asyncio.create_task(metrics.watch_event_loop(heartbeat, interval_s=0.02))
    await asyncio.sleep(0.2)
    task.cancel()
    assert heartbeat.healthy(max_age_s=1.0)
    assert sample("liveness_event_loop_lag_seconds_count") >= observed + 3


def test_metrics_server_serves_metrics_and_healthz_over_http() -> None:
    metrics.gateway_frame("published")
    server = metrics.start_metrics_server(0, host="127.0.0.1", heartbeat=metrics.Heartbeat())
    try:
        base = f"http://127.0.0.1:{server.port}"
        body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
    finally:
        server.close()
    assert 'liveness_gateway_frames_total{result="published"}' in body
    assert "process_resident_memory_bytes" in body
    assert refused.value.code == 503
