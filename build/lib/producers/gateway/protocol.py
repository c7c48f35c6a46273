"""The gateway's wire format: frame and control messages from the client, the session request body.

A frame is one binary WebSocket message::

    seq (4 bytes, big-endian) [ {"captured_at_ms": 1712345678901} "\n" ] JPEG bytes

The JSON header line is optional; without it the capture time is the gateway's
receive time. A JPEG starts with 0xFF, never with ``{``, so the two forms cannot
be confused. The only control message is the text message ``{"type": "end"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from producers.gateway.errors import FrameTooLarge, Refusal
from producers.gateway.settings import GatewayLimits
from schemas.limits import MAX_CAPTURED_AT_MS, MAX_SEQ

SEQ_BYTES = 4
HEADER_START = b"{"
HEADER_END = b"\n"


@dataclass(frozen=True)
class FrameMessage:
    """One frame as the client sent it; nothing in it is checked against the session yet."""

    seq: int
    captured_at_ms: int | None
    jpeg: bytes


@dataclass(frozen=True)
class EndMessage:
    """The client has sent its last frame."""


@dataclass(frozen=True)
class FrameSize:
    """The camera's frame size, the only thing a client may ask for when it creates a session."""

    width: int
    height: int


def max_message_bytes(limits: GatewayLimits) -> int:
    """The largest binary message a well-behaved client can send."""
    return SEQ_BYTES + limits.max_header_bytes + len(HEADER_END) + limits.max_frame_bytes


def parse_frame_message(data: bytes, limits: GatewayLimits) -> FrameMessage:
    """Split a binary message into seq, optional capture time and JPEG; raises a ``Refusal``."""
    if len(data) > max_message_bytes(limits):
        # The header is bounded, so a message this long carries a JPEG over the limit.
        raise FrameTooLarge(
            f"frame message of {len(data)} bytes is over the frame limit of {limits.max_frame_bytes} bytes"
        )
    if len(data) <= SEQ_BYTES:
        raise Refusal("a frame message needs a 4-byte seq and a JPEG")
    seq = int.from_bytes(data[:SEQ_BYTES], "big")
    if seq > MAX_SEQ:
        raise Refusal(f"seq {seq} is out of range")
    captured_at_ms, jpeg = _split_header(data[SEQ_BYTES:], limits)
    if len(jpeg) > limits.max_frame_bytes:
        raise FrameTooLarge(
            f"frame of {len(jpeg)} bytes is over the frame limit of {limits.max_frame_bytes} bytes"
        )
    return FrameMessage(seq, captured_at_ms, jpeg)


def _split_header(rest: bytes, limits: GatewayLimits) -> tuple[int | None, bytes]:
    if not rest.startswith(HEADER_START):
        return None, rest
    end = rest.find(HEADER_END, 0, limits.max_header_bytes + 1)
    if end < 0:
        raise Refusal(f"frame header is not a JSON line of at most {limits.max_header_bytes} bytes")
    header = _json_object(rest[:end], "frame header")
    if set(header) - {"captured_at_ms"}:
        raise Refusal(f"frame header may only carry captured_at_ms, got {sorted(header)}")
    captured_at_ms = header.get("captured_at_ms")
    if captured_at_ms is not None and not _int_within(captured_at_ms, 0, MAX_CAPTURED_AT_MS):
        raise Refusal(f"captured_at_ms must be a non-negative integer of ms, at most {MAX_CAPTURED_AT_MS}")
    return captured_at_ms, rest[end + 1 :]


def parse_control_message(text: str) -> EndMessage:
    """A text message; ``{"type": "end"}`` is the only one there is."""
    message = _json_object(text.encode(), "control message")
    if message != {"type": "end"}:
        raise Refusal('the only control message is {"type": "end"}')
    return EndMessage()


def parse_session_request(body: bytes, limits: GatewayLimits) -> FrameSize | None:
    """The frame size a client asks for (``None``: the server's default). Nothing else is accepted."""
    if not body.strip():
        return None
    request = _json_object(body, "request body")
    if set(request) != {"image_width", "image_height"}:
        raise Refusal("the body may only carry image_width and image_height, both of them")
    width, height = request["image_width"], request["image_height"]
    low, high = limits.min_image_side, limits.max_image_side
    if not (_int_within(width, low, high) and _int_within(height, low, high)):
        raise Refusal(f"image_width and image_height must be integers from {low} to {high}")
    return FrameSize(width, height)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refusal(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Refusal(f"{what} must be a JSON object")
    return value


def _int_within(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def encode_frame_message(seq: int, jpeg: bytes, captured_at_ms: int | None = None) -> bytes:
    """The binary message of one frame, as the web client builds it (for Python clients and tests)."""
    header = b"" if captured_at_ms is None else orjson.dumps({"captured_at_ms": captured_at_ms}) + HEADER_END
    return seq.to_bytes(SEQ_BYTES, "big") + header + jpeg


@dataclass(frozen=True)
class BackendRequest:
    """A tenant backend's session request: the user it is for, and optionally the camera's frame size."""

    user_ref: str
    size: FrameSize | None


MAX_USER_REF_CHARS = 256


def parse_backend_request(body: bytes, limits: GatewayLimits) -> BackendRequest:
    """``{"user_ref": str, "image_width"?: int, "image_height"?: int}``; nothing else is accepted."""
    request = _json_object(body, "request body") if body.strip() else {}
    user_ref = request.pop("user_ref", None)
    if not isinstance(user_ref, str) or not 1 <= len(user_ref) <= MAX_USER_REF_CHARS:
        raise Refusal(f"user_ref must be a string of 1 to {MAX_USER_REF_CHARS} characters")
    size = parse_session_request(orjson.dumps(request), limits) if request else None
    return BackendRequest(user_ref, size)
