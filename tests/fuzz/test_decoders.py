"""Fuzzing the decoders with hypothesis: whatever the bytes, they decode or raise a LivenessError subclass.

Every decoder that reads bytes from the wire is here: the JSON event decoders,
the frame headers, the JPEG header checks (processor and gateway) and the JPEG
decoder. Any other exception would escape an agent's error handling as a crash
instead of a dead letter.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.jpeg import FrameLimits, check_frame, jpeg_dimensions
from processors.landmarks import decode_jpeg
from producers.challenge_service import ChallengeService
from schemas.codec import (
    decode_dead_letter,
    decode_decision,
    decode_observation,
    decode_session_event,
    decode_verifier_input,
    encode,
    frame_headers,
    parse_frame_headers,
)
from schemas.errors import LivenessError
from schemas.events import (
    LANDMARK_SUBSET,
    Box,
    Check,
    Decision,
    Face,
    FrameMeta,
    Observation,
    SessionEnded,
    SessionTick,
    SourceRef,
    dead_letter,
)
from schemas.tokens import TokenKeys

EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECODERS: dict[str, Callable[[bytes], Any]] = {
    "session_event": decode_session_event,
    "verifier_input": decode_verifier_input,
    "observation": decode_observation,
    "decision": decode_decision,
    "dead_letter": decode_dead_letter,
}


def survives(tried: Counter, kind: str, decode: Callable[..., Any], *args: Any) -> None:
    """Call ``decode``; returning or raising a LivenessError is fine, any other exception is a bug."""
    tried[kind] += 1
    with contextlib.suppress(LivenessError):
        decode(*args)


def valid_events() -> list[dict[str, Any]]:
    """One real event of every JSON kind, as dicts, for structured mutation."""
    started = ChallengeService(TokenKeys(b"fuzz-secret-fuzz-secret-32bytes!")).start(1_700_000_000_000)
    face = Face(
        Box(10.0, 20.0, 100.0, 120.0), (60.0, 80.0), 1.0, 2.0, 3.0, (1.5,) * (3 * len(LANDMARK_SUBSET))
    )
    observation = Observation("s1", 3, 1_700_000_000_100, 1_700_000_000_150, 640, 480, (face,), 4.2)
    decision = Decision("s1", "fail", "NO_FACE", "nose", (Check("faces", 0.0, 1.0, False),), 3, 0, 1, 2)
    letter = dead_letter("CORRUPT_FRAME", "bad", SourceRef("t", 0, 5), b"\xff\xd8", "s1", 1)
    events = [started, SessionEnded("s1", 5, 9), SessionTick("s1", 7), observation, decision, letter]
    return [orjson.loads(encode(event)) for event in events]


VALID = valid_events()
HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.just("x" * 5000),
    st.lists(st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _mutated(event: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """One event with a field dropped, added, or set to a hostile value (nested objects included)."""
    out = json.loads(json.dumps(event))
    target = out
    while True:  # sometimes descend into a nested object (challenge, faces, checks ...)
        nested = [k for k, v in target.items() if isinstance(v, dict | list) and v]
        if not nested or not data.draw(st.booleans()):
            break
        value = target[data.draw(st.sampled_from(nested))]
        target = value if isinstance(value, dict) else value[0]
        if not isinstance(target, dict):
            return out
    action = data.draw(st.sampled_from(["drop", "add", "set"]))
    key = data.draw(st.sampled_from(sorted(target))) if target else "x"
    if action == "drop":
        target.pop(key, None)
    elif action == "add":
        target[data.draw(st.text(min_size=1, max_size=10))] = data.draw(HOSTILE_VALUES)
    else:
        target[key] = data.draw(HOSTILE_VALUES)
    return out


def _dumps(value: Any) -> bytes:
    # The stdlib writes NaN/Infinity literals and numbers of any size, as a hostile producer could.
    return json.dumps(value, allow_nan=True).encode()


@EXAMPLES
@given(raw=st.binary(max_size=2048))
def test_event_decoders_random_bytes_raise_only_liveness_errors(raw: bytes, tried: Counter) -> None:
    for kind, decode in DECODERS.items():
        survives(tried, f"bytes->{kind}", decode, raw)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@EXAMPLES
@given(value=JSON)
def test_event_decoders_arbitrary_json_raise_only_liveness_errors(value: Any, tried: Counter) -> None:
    for kind, decode in DECODERS.items():
        survives(tried, f"json->{kind}", decode, _dumps(value))


@EXAMPLES
@given(data=st.data())
def test_event_decoders_mutated_valid_events_raise_only_liveness_errors(
    data: st.DataObject, tried: Counter
) -> None:
    event = _mutated(data.draw(st.sampled_from(VALID)), data)
    raw = _dumps(event)
    for kind, decode in DECODERS.items():
        survives(tried, f"mutated->{kind}", decode, raw)


@pytest.mark.parametrize("raw", [b"NaN", b'{"v": NaN}', b"1e999", b"-1e999", b"9" * 5000, b"[" * 10_000])
def test_event_decoders_hostile_literals_raise_only_liveness_errors(raw: bytes, tried: Counter) -> None:
    for kind, decode in DECODERS.items():
        survives(tried, f"literal->{kind}", decode, raw)


def test_event_decoders_wrong_version_and_huge_numbers_raise_schema_errors(tried: Counter) -> None:
    for event in VALID:
        for change in ({"v": 2}, {"v": 1.0}, {"v": True}, {"session_id": "s" * 10_000}):
            with pytest.raises(LivenessError):
                tried[f"version->{event['kind']}"] += 1
                decode_verifier_input(_dumps({**event, **change})) if event["kind"] in (
                    "session_started",
                    "session_ended",
                    "session_tick",
                    "observation",
                ) else DECODERS[event["kind"]](_dumps({**event, **change}))


HEADER_VALUES = st.one_of(st.binary(max_size=40), st.none(), st.integers(), st.text(max_size=10))


@EXAMPLES
@given(
    headers=st.lists(
        st.tuples(st.sampled_from(["schema", "session-id", "seq", "captured-at-ms", "x"]), HEADER_VALUES),
        max_size=6,
    )
)
def test_parse_frame_headers_arbitrary_headers_raise_only_liveness_errors(
    headers: list, tried: Counter
) -> None:
    survives(tried, "headers", parse_frame_headers, headers)


@EXAMPLES
@given(field=st.sampled_from(["session-id", "seq", "captured-at-ms"]), value=st.binary(max_size=30))
def test_parse_frame_headers_one_bad_field_raises_only_liveness_errors(
    field: str, value: bytes, tried: Counter
) -> None:
    headers = dict(frame_headers(FrameMeta("s1", 1, 2)))
    headers[field] = value
    survives(tried, "headers-field", parse_frame_headers, headers)


def _jpeg(width: int = 64, height: int = 48) -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


JPEG = _jpeg()
LIMITS = FrameLimits()


def _decode_both(tried: Counter, kind: str, data: bytes) -> None:
    tried[kind] += 1
    for decode in (jpeg_dimensions, lambda d: check_frame(d, LIMITS), lambda d: decode_jpeg(d, LIMITS)):
        with contextlib.suppress(LivenessError):
            decode(data)


@EXAMPLES
@given(raw=st.binary(max_size=4096))
def test_jpeg_decoders_random_bytes_raise_only_liveness_errors(raw: bytes, tried: Counter) -> None:
    _decode_both(tried, "jpeg-random", raw)
    _decode_both(
        tried, "jpeg-random-after-soi", b"\xff\xd8" + raw
    )  # past the first marker check, into the segment walk


@EXAMPLES
@given(
    data=st.data(),
    action=st.sampled_from(["truncate", "flip", "insert", "delete", "tail"]),
)
def test_jpeg_decoders_corrupted_jpeg_raise_only_liveness_errors(
    data: st.DataObject, action: str, tried: Counter
) -> None:
    raw = bytearray(JPEG)
    at = data.draw(st.integers(0, len(raw) - 1))
    if action == "truncate":
        raw = raw[:at]
    elif action == "flip":
        raw[at] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "insert":
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    elif action == "delete":
        del raw[at : at + data.draw(st.integers(1, 64))]
    else:
        raw = raw[:at] + b"\xff\xd9"  # cut short, with an end marker after it
    _decode_both(tried, f"jpeg-{action}", bytes(raw))


def _with_dimensions(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its start-of-frame header claiming other dimensions."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + jpeg[sof + 9 :]


@EXAMPLES
@given(width=st.integers(0, 65535), height=st.integers(0, 65535))
def test_decode_jpeg_any_claimed_dimensions_raise_only_liveness_errors(
    width: int, height: int, tried: Counter
) -> None:
    _decode_both(tried, "jpeg-claimed-size", _with_dimensions(JPEG, width, height))


def test_decode_jpeg_decompression_bomb_refused_before_decoding() -> None:
    from processors.errors import FrameTooLargeError

    bomb = _with_dimensions(JPEG, 60000, 60000)
    assert jpeg_dimensions(bomb) == (60000, 60000)
    with pytest.raises(FrameTooLargeError):
        decode_jpeg(bomb, LIMITS)


@pytest.mark.parametrize("extension", [".png", ".gif", ".webp", ".bmp", ".tiff"])
def test_decode_jpeg_other_image_formats_raise_corrupt_frame(extension: str) -> None:
    from processors.errors import CorruptFrameError

    image = np.zeros((32, 32, 3), np.uint8)
    ok, encoded = cv2.imencode(extension, image) if extension != ".gif" else (True, _gif())
    assert ok
    with pytest.raises(CorruptFrameError):
        decode_jpeg(bytes(encoded), LIMITS)


def _gif() -> np.ndarray:
    # OpenCV 4.11 writes no GIF: a minimal 1x1 GIF89a by hand.
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    gif += b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    return np.frombuffer(gif, np.uint8)


def test_finite_guard_rejects_nan_written_by_a_lenient_producer() -> None:
    observation = dict(VALID[3], inference_ms=math.nan)
    with pytest.raises(LivenessError):
        decode_observation(_dumps(observation))
