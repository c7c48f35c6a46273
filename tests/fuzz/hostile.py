"""Hostile records for the pipeline's input topics: what a broken or malicious client could publish.

Each record carries the dead-letter reason it must end with; ``*`` is any reason,
and a trailing ``?`` makes it optional (damage that still decodes). Random parts are drawn with
hypothesis from a fixed seed, so a run is reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

from schemas.codec import FRAME_SCHEMA

BOMB_SIDE = 60000


@dataclass(frozen=True)
class Junk:
    """One record to publish: its kind (for counting), value, headers, and the reason it must get."""

    kind: str
    value: bytes | None
    reason: str | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    key: bytes | None = None


def draw(strategy: st.SearchStrategy[Any], count: int, at: int = 0) -> list[Any]:
    """``count`` values of ``strategy``, the same on every run."""
    drawn: list[Any] = []

    @seed(1234 + at)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None)
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn[:count]


def jpeg(width: int = 64, height: int = 48) -> bytes:
    image = np.random.default_rng(width).integers(0, 255, (height, width, 3), np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def with_dimensions(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with a start-of-frame header that claims other dimensions (a decompression bomb)."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[sof + 9 :]


def frame_headers_for(session_id: str, seq: int, captured_at_ms: int) -> list[tuple[str, bytes]]:
    return [
        ("schema", FRAME_SCHEMA),
        ("session-id", session_id.encode()),
        ("seq", str(seq).encode()),
        ("captured-at-ms", str(captured_at_ms).encode()),
    ]


def _other_formats() -> list[tuple[str, bytes]]:
    image = np.zeros((32, 32, 3), np.uint8)
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    gif += b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    out = [(ext, cv2.imencode(f".{ext}", image)[1].tobytes()) for ext in ("png", "webp", "bmp")]
    return [*out, ("gif", gif)]


def junk_frame_payloads(
    random_count: int = 30, corrupt_count: int = 20
) -> list[tuple[str, bytes | None, str]]:
    """``(kind, value, reason)`` of frames that cannot be analysed, for a session that exists."""
    good = jpeg()
    cut = draw(st.integers(2, len(good) - 3), corrupt_count, at=1)
    flips = draw(st.tuples(st.integers(2, len(good) - 1), st.integers(1, 255)), corrupt_count, at=2)
    out: list[tuple[str, bytes | None, str]] = [
        ("random-bytes", raw, "CORRUPT_FRAME") for raw in draw(st.binary(max_size=4096), random_count, at=3)
    ]
    out += [("truncated-jpeg", good[:at], "CORRUPT_FRAME") for at in cut]
    # libjpeg decodes most damage inside the scan (it fills in grey): such a frame is analysed as an
    # image (a face or none), so its dead letter is optional, hence "CORRUPT_FRAME?".
    out += [("cut-with-eoi", good[:at] + b"\xff\xd9", "CORRUPT_FRAME?") for at in cut[:5]]
    out += [("corrupt-jpeg", _flipped(good, at, mask), "CORRUPT_FRAME?") for at, mask in flips]
    out += [(f"{ext}-image", data, "CORRUPT_FRAME") for ext, data in _other_formats()]
    out += [("zero-bytes", b"", "CORRUPT_FRAME"), ("null-value", None, "CORRUPT_FRAME")]
    out += [("bomb-60000x60000", with_dimensions(good, BOMB_SIDE, BOMB_SIDE), "FRAME_TOO_LARGE")]
    out += [("over-size-1.5MB", good[:-2] + b"\x00" * 1_500_000 + b"\xff\xd9", "FRAME_TOO_LARGE")]
    return out


def _flipped(data: bytes, at: int, mask: int) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    if bytes(out) == data or out.endswith(b"\xff\xd9") and out[at] == data[at]:
        out[at] ^= 0xFF
    return bytes(out)


def bad_frame_headers(session_id: str) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """Frames with a good JPEG but headers that cannot be read: no session to tell, so dead letters only."""
    ok = frame_headers_for(session_id, 0, 1)
    return [
        ("no-headers", []),
        ("schema-v2", [("schema", b"frame/2"), *ok[1:]]),
        ("seq-not-a-number", [*ok[:2], ("seq", b"one"), ok[3]]),
        ("seq-huge", [*ok[:2], ("seq", str(2**40).encode()), ok[3]]),
        ("seq-negative", [*ok[:2], ("seq", b"-1"), ok[3]]),
        ("captured-nan", [*ok[:3], ("captured-at-ms", b"NaN")]),
        ("session-id-not-utf8", [ok[0], ("session-id", b"\xff\xfe"), *ok[2:]]),
        ("session-id-empty", [ok[0], ("session-id", b""), *ok[2:]]),
    ]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def junk_events(
    valid_start: dict[str, Any], valid_observation: dict[str, Any], random_count: int = 30
) -> list[Junk]:
    """Malformed verifier inputs for the sessions and observations topics, keyed by their session id."""
    sid = valid_start["session_id"]
    fixed: list[tuple[str, Any]] = [
        ("bad-json", b"{not json"),
        ("json-array", _dumps([1, 2, 3])),
        ("unknown-kind", _dumps({**valid_start, "kind": "session_paused"})),
        ("version-2", _dumps({**valid_start, "v": 2})),
        ("version-float", _dumps({**valid_start, "v": 1.0})),
        ("missing-token", _dumps({k: v for k, v in valid_start.items() if k != "token"})),
        ("huge-expiry", _dumps({**valid_start, "expires_at_ms": 2**70})),
        ("nan-literal", _dumps({**valid_observation, "inference_ms": float("nan")})),
        ("infinite-box", _dumps({**valid_observation, "image_width": float("inf")})),
        ("huge-seq", _dumps({**valid_observation, "seq": 2**64})),
        ("faces-not-list", _dumps({**valid_observation, "faces": {"a": 1}})),
        ("over-256KB", _dumps({**valid_start, "pad": "x" * 300_000})),
    ]
    out = [
        Junk(kind, raw, "BAD_EVENT" if "version" not in kind else "UNSUPPORTED_VERSION")
        for kind, raw in fixed
    ]
    out.append(Junk("wrong-key", _dumps(valid_start), "BAD_EVENT", key=b"someone-else"))
    out = [Junk(j.kind, j.value, j.reason, j.headers, j.key or sid.encode()) for j in out]
    return out + mutated_observations(valid_observation, random_count)


def mutated_observations(valid: dict[str, Any], count: int) -> list[Junk]:
    """Observations with one field set to a random value, each for a session that never starts.

    Each ends in a dead letter: BAD_EVENT when it cannot be read, UNKNOWN_SESSION (after the
    verifier's idle timeout) when it can, hence the reason ``*``.
    """
    values = st.one_of(
        st.none(), st.integers(), st.floats(), st.text(max_size=20), st.lists(st.integers(), max_size=3)
    )
    out = []
    for i, (name, value) in enumerate(draw(st.tuples(st.sampled_from(sorted(valid)), values), count, at=4)):
        sid = f"orphan-{i}"
        mutated = {**valid, "session_id": sid, name: value}
        out.append(Junk(f"mutated-observation.{name}", _dumps(mutated), "*", key=sid.encode()))
    return out
