"""The gateway's wire format: frame messages, the end message and the session request body."""

from __future__ import annotations

import pytest

from producers.gateway.errors import FrameTooLarge, Refusal
from producers.gateway.protocol import (
    EndMessage,
    FrameMessage,
    FrameSize,
    encode_frame_message,
    parse_control_message,
    parse_frame_message,
    parse_session_request,
)
from producers.gateway.settings import GatewayLimits

LIMITS = GatewayLimits(max_frame_bytes=1000, max_header_bytes=64)
JPEG = b"\xff\xd8" + b"x" * 100 + b"\xff\xd9"


def test_parse_frame_message_without_header_has_no_capture_time() -> None:
    assert parse_frame_message(b"\x00\x00\x01\x02" + JPEG, LIMITS) == FrameMessage(258, None, JPEG)


def test_parse_frame_message_with_header_reads_capture_time() -> None:
    data = encode_frame_message(7, JPEG, captured_at_ms=1_712_345_678_901)
    assert parse_frame_message(data, LIMITS) == FrameMessage(7, 1_712_345_678_901, JPEG)


def test_parse_frame_message_empty_header_object_means_no_capture_time() -> None:
    assert parse_frame_message(b"\0\0\0\0{}\n" + JPEG, LIMITS) == FrameMessage(0, None, JPEG)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "needs a 4-byte seq"),
        (b"\0\0\0\0", "needs a 4-byte seq"),
        (b"\xff\xff\xff\xff" + JPEG, "out of range"),
        (b"\0\0\0\0{" + b" " * 80 + b"}\n" + JPEG, "JSON line of at most 64 bytes"),
        (b"\0\0\0\0{nope}\n" + JPEG, "not valid JSON"),
        (b'\0\0\0\0{"seq": 3}\n' + JPEG, "may only carry captured_at_ms"),
        (b'\0\0\0\0{"captured_at_ms": -1}\n' + JPEG, "non-negative integer"),
        (b'\0\0\0\0{"captured_at_ms": 1.5}\n' + JPEG, "non-negative integer"),
        (b'\0\0\0\0{"captured_at_ms": true}\n' + JPEG, "non-negative integer"),
    ],
)
def test_parse_frame_message_malformed_is_refused_4400(data: bytes, message: str) -> None:
    with pytest.raises(Refusal, match=message) as refused:
        parse_frame_message(data, LIMITS)
    assert refused.value.close_code == 4400


def test_parse_frame_message_jpeg_over_limit_is_refused_4413() -> None:
    with pytest.raises(FrameTooLarge, match="frame of 1001 bytes is over the frame limit of 1000") as refused:
        parse_frame_message(b"\0\0\0\0" + b"\xff" * 1001, LIMITS)
    assert refused.value.close_code == 4413


def test_parse_frame_message_far_over_limit_is_refused_before_parsing() -> None:
    with pytest.raises(FrameTooLarge, match="frame message of 100004 bytes"):
        parse_frame_message(b"\0\0\0\0" + b"{" * 100_000, LIMITS)


def test_parse_control_message_end_is_the_only_one() -> None:
    assert parse_control_message('{"type": "end"}') == EndMessage()
    for text in ('{"type": "pass"}', '{"type": "end", "outcome": "pass"}', "end", "[]"):
        with pytest.raises(Refusal):
            parse_control_message(text)


def test_parse_session_request_empty_body_means_server_default() -> None:
    assert parse_session_request(b"", LIMITS) is None
    assert parse_session_request(b"  \n", LIMITS) is None


def test_parse_session_request_frame_size_within_limits_is_accepted() -> None:
    body = b'{"image_width": 480, "image_height": 640}'
    assert parse_session_request(body, LIMITS) == FrameSize(480, 640)


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "nose"}',
        b'{"image_width": 640, "image_height": 480, "type": "nose"}',
        b'{"image_width": 640, "image_height": 480, "nose": {"left": 1}}',
        b'{"image_width": 640}',
        b'{"image_width": 64, "image_height": 48}',
        b'{"image_width": 4000, "image_height": 3000}',
        b'{"image_width": 640.0, "image_height": 480}',
        b'{"image_width": "640", "image_height": 480}',
        b"[640, 480]",
        b"not json",
    ],
)
def test_parse_session_request_anything_but_a_frame_size_is_refused(body: bytes) -> None:
    with pytest.raises(Refusal):
        parse_session_request(body, LIMITS)
