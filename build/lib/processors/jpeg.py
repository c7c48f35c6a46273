"""JPEG checks that need no decoder: the format, the size in bytes and the pixel size from the header.

Kept apart from the model so the gateway can refuse bad frames without loading MediaPipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.errors import CorruptFrameError, FrameTooLargeError

_SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC)
# share the range but are not frames.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length field.
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS = 0xDA


@dataclass(frozen=True)
class FrameLimits:
    """What a processor agrees to decode. 1 MB matches Kafka's default maximum message size."""

    max_bytes: int = 1_000_000
    max_width: int = 1920
    max_height: int = 1920
    max_pixels: int = 1920 * 1080


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the JPEG's start-of-frame header, without decoding any pixel.

    Reading the header first is what refuses a decompression bomb: a few hundred
    bytes can claim 60000x60000 pixels, which ``cv2.imdecode`` would allocate.
    """
    if not data.startswith(_SOI):
        raise CorruptFrameError("not a JPEG: missing start-of-image marker")
    position = len(_SOI)
    while True:
        marker, position = _next_marker(data, position)
        if marker in _STANDALONE_MARKERS:
            continue
        if marker == 0xD9 or marker == _SOS or marker == 0xD8:
            raise CorruptFrameError(f"JPEG marker 0x{marker:02X} before any start-of-frame")
        length = _segment_length(data, position)
        if marker in _SOF_MARKERS:
            return _sof_dimensions(data, position, length)
        position += length


def _next_marker(data: bytes, position: int) -> tuple[int, int]:
    if position >= len(data) or data[position] != 0xFF:
        raise CorruptFrameError(f"JPEG segment does not start with a marker at byte {position}")
    # Any number of 0xFF fill bytes may precede the marker code.
    while position < len(data) and data[position] == 0xFF:
        position += 1
    if position >= len(data):
        raise CorruptFrameError("JPEG ends inside a marker")
    return data[position], position + 1


def _segment_length(data: bytes, position: int) -> int:
    if position + 2 > len(data):
        raise CorruptFrameError("JPEG ends inside a segment length")
    length = int.from_bytes(data[position : position + 2], "big")
    if length < 2 or position + length > len(data):
        raise CorruptFrameError(f"JPEG segment length {length} at byte {position} is out of bounds")
    return length


def _sof_dimensions(data: bytes, position: int, length: int) -> tuple[int, int]:
    # length(2) precision(1) height(2) width(2) components(1)
    if length < 8:
        raise CorruptFrameError(f"JPEG start-of-frame segment too short ({length} bytes)")
    height = int.from_bytes(data[position + 3 : position + 5], "big")
    width = int.from_bytes(data[position + 5 : position + 7], "big")
    if width == 0 or height == 0:
        # Height 0 defers it to a DNL marker after the scan: not worth supporting.
        raise CorruptFrameError(f"JPEG declares {width}x{height} pixels")
    return width, height


def check_frame(data: bytes, limits: FrameLimits) -> tuple[int, int]:
    """Refuse a frame over the byte limit, not a JPEG, or whose header claims too many pixels."""
    if len(data) > limits.max_bytes:
        raise FrameTooLargeError(f"frame of {len(data)} bytes exceeds {limits.max_bytes}")
    width, height = jpeg_dimensions(data)
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise FrameTooLargeError(
            f"frame of {width}x{height} pixels exceeds {limits.max_width}x{limits.max_height} "
            f"or {limits.max_pixels} pixels"
        )
    return width, height
