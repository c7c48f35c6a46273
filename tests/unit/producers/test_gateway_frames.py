"""The per-stream frame checks: sequence, count, stream time, rate, JPEG header and size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from producers.gateway.errors import (
    NotJpeg,
    RateExceeded,
    Refusal,
    SessionExpired,
    TooManyFrames,
    WrongFrameSize,
)
from producers.gateway.frames import FrameGate, check_jpeg
from producers.gateway.protocol import FrameMessage
from producers.gateway.settings import GatewayLimits
from schemas.events import Box, Challenge, FrameMeta

CHALLENGE = Challenge("nose", 640, 480, Box(185, 60, 270, 360), nose=Box(375, 250, 20, 20))
LIMITS = GatewayLimits(max_frames=20, max_stream_s=10.0, max_fps=15.0, burst_frames=3)


def _jpeg(width: int = 640, height: int = 480) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


JPEG = _jpeg()


def _gate() -> FrameGate:
    return FrameGate("s1", CHALLENGE, LIMITS, opened_ms=0.0)


def test_frame_gate_in_order_frames_get_their_metadata() -> None:
    gate = _gate()
    metas = [gate.admit(FrameMessage(seq, 1000 + seq, JPEG), seq * 100.0, 5000) for seq in range(3)]
    assert metas == [FrameMeta("s1", seq, 1000 + seq) for seq in range(3)]
    assert gate.last_seq == 2


def test_frame_gate_frame_without_capture_time_gets_the_gateway_time() -> None:
    assert (
        _gate().admit(FrameMessage(0, None, JPEG), 0.0, 1_700_000_000_000).captured_at_ms == 1_700_000_000_000
    )


def test_frame_gate_no_frame_has_no_last_seq() -> None:
    assert _gate().last_seq is None


@pytest.mark.parametrize("seq", [1, 5])
def test_frame_gate_seq_gap_is_refused(seq: int) -> None:
    with pytest.raises(Refusal, match=f"frame seq {seq} where 0 was expected"):
        _gate().admit(FrameMessage(seq, None, JPEG), 0.0, 0)


def test_frame_gate_repeated_seq_is_refused() -> None:
    gate = _gate()
    gate.admit(FrameMessage(0, None, JPEG), 0.0, 0)
    with pytest.raises(Refusal, match="frame seq 0 where 1 was expected"):
        gate.admit(FrameMessage(0, None, JPEG), 100.0, 0)


def test_frame_gate_frames_beyond_max_frames_are_refused() -> None:
    gate = _gate()
    for seq in range(LIMITS.max_frames):
        gate.admit(FrameMessage(seq, None, JPEG), seq * 100.0, 0)
    with pytest.raises(TooManyFrames, match="frame limit of 20"):
        gate.admit(FrameMessage(LIMITS.max_frames, None, JPEG), 2100.0, 0)


def test_frame_gate_frame_after_stream_time_is_refused() -> None:
    with pytest.raises(SessionExpired, match="stream time of 10 s is over"):
        _gate().admit(FrameMessage(0, None, JPEG), 10_001.0, 0)


def test_frame_gate_flood_is_refused_after_the_burst() -> None:
    gate = _gate()
    for seq in range(LIMITS.burst_frames):
        gate.admit(FrameMessage(seq, None, JPEG), 0.0, 0)
    with pytest.raises(RateExceeded, match="faster than 15 fps") as refused:
        gate.admit(FrameMessage(LIMITS.burst_frames, None, JPEG), 0.0, 0)
    assert refused.value.close_code == 4429


def test_frame_gate_frame_after_end_is_refused() -> None:
    gate = _gate()
    gate.end()
    with pytest.raises(Refusal, match="after the end"):
        gate.admit(FrameMessage(0, None, JPEG), 0.0, 0)
    with pytest.raises(Refusal, match="already ended"):
        gate.end()


def test_frame_gate_refused_frame_is_not_counted() -> None:
    gate = _gate()
    with pytest.raises(NotJpeg):
        gate.admit(FrameMessage(0, None, b"GIF89a"), 0.0, 0)
    assert gate.last_seq is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n", "missing start-of-image"),
        (b"", "missing start-of-image"),
        (JPEG[:300], "JPEG|truncated"),
        (JPEG[:-2], "missing end-of-image"),
    ],
)
def test_check_jpeg_non_jpeg_is_refused_4415(data: bytes, message: str) -> None:
    with pytest.raises(NotJpeg, match=message) as refused:
        check_jpeg(data, CHALLENGE)
    assert refused.value.close_code == 4415


def test_check_jpeg_other_dimensions_are_refused_4422() -> None:
    with pytest.raises(WrongFrameSize, match="frame is 480x640, the challenge is 640x480"):
        check_jpeg(_jpeg(480, 640), CHALLENGE)


def test_check_jpeg_challenge_size_passes() -> None:
    check_jpeg(JPEG, CHALLENGE)
