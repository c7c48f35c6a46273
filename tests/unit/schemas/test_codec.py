"""Events on the wire: every kind round-trips, and every malformed input is a ``SchemaError``.

Forward compatibility: a decoder ignores fields it does not know, at any depth,
so a producer may add an optional field without a version bump. Anything else
that differs from the contract (a wrong version, a missing or mistyped field,
a number out of range, an oversize record) raises ``SchemaError``, the error
the shells route to the dead-letter topic; a wrong version raises its subclass
``UnsupportedVersionError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from sample_events import all_events, observations, session_starts

from schemas.codec import (
    FRAME_SCHEMA,
    MAX_EVENT_BYTES,
    decode_dead_letter,
    decode_decision,
    decode_identity_request,
    decode_observation,
    decode_session_event,
    decode_verifier_input,
    encode,
    frame_headers,
    parse_frame_headers,
)
from schemas.errors import SchemaError, UnsupportedVersionError
from schemas.events import FrameMeta

Decoder = Callable[[bytes | None], Any]

DECODERS: dict[str, tuple[Decoder, ...]] = {
    "session_started": (decode_session_event, decode_verifier_input),
    "session_ended": (decode_session_event, decode_verifier_input),
    "session_tick": (decode_verifier_input,),
    "observation": (decode_observation, decode_verifier_input),
    "decision": (decode_decision,),
    "dead_letter": (decode_dead_letter,),
    "identity_request": (decode_identity_request,),
    "identity_sample": (decode_verifier_input,),
}

EVENTS = all_events()
SAMPLES: dict[str, dict[str, Any]] = {}
for _event in EVENTS:
    SAMPLES.setdefault(_event.kind, _event.to_dict())
# The richest sample of a kind: an observation with a face, a decision with checks, a nose start.
SAMPLES["observation"] = observations()[0].to_dict()
SAMPLES["session_started"] = session_starts()[0].to_dict()


class _Delete:
    """Marks a field to remove instead of a value to set."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


def _with(kind: str, path: str, value: Any) -> dict[str, Any]:
    """A copy of the sample of ``kind`` with the value at a dotted ``path`` replaced (or deleted)."""
    data = orjson.loads(orjson.dumps(SAMPLES[kind]))
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return data


def _raw(kind: str, path: str, value: Any) -> bytes:
    """The sample of ``kind`` changed at ``path``, as bytes (stdlib json: it writes integers of any size)."""
    return json.dumps(_with(kind, path, value)).encode()


def _decoders(kind: str) -> tuple[Decoder, ...]:
    return DECODERS[kind]


def _event_id(event: Any) -> str:
    return event.kind


def _rows(rows: list[tuple[Any, ...]]) -> list[Any]:
    """Table rows as pytest params with short, readable ids."""
    return [
        pytest.param(*row, id="-".join(repr(v)[:24] if not isinstance(v, str) else v[:24] for v in row))
        for row in rows
    ]


# ---- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS, ids=_event_id)
def test_decode_encoded_event_round_trips_equal(event: Any) -> None:
    raw = encode(event)

    for decode in _decoders(event.kind):
        decoded = decode(raw)
        assert decoded == event
        assert encode(decoded) == raw


def test_decode_samples_cover_every_kind_and_every_challenge_type() -> None:
    kinds = {event.kind for event in EVENTS}
    types = {start.challenge.type for start in session_starts()}

    assert kinds == set(DECODERS)
    assert types == {"nose", "turn", "blink", "nose_sequence"}


@pytest.mark.parametrize(
    ("decode", "kind"),
    [
        (decode_session_event, "observation"),
        (decode_session_event, "decision"),
        (decode_observation, "decision"),
        (decode_decision, "observation"),
        (decode_dead_letter, "decision"),
        (decode_verifier_input, "decision"),
        (decode_verifier_input, "dead_letter"),
    ],
)
def test_decode_event_of_another_kind_raises_schema_error(decode: Decoder, kind: str) -> None:
    with pytest.raises(SchemaError):
        decode(orjson.dumps(SAMPLES[kind]))


# ---- not JSON, not an object, too large ---------------------------------------------------------

NOT_AN_EVENT = [None, b"", b"{", b"\xff\xfe", b"[]", b"null", b"42", b'"observation"', b"NaN", b"{}"]


@pytest.mark.parametrize("raw", NOT_AN_EVENT)
@pytest.mark.parametrize(
    "decode", sorted({d for ds in DECODERS.values() for d in ds}, key=lambda d: d.__name__)
)
def test_decode_not_an_event_raises_schema_error(decode: Decoder, raw: bytes | None) -> None:
    with pytest.raises(SchemaError):
        decode(raw)


def _padded_to(size: int) -> bytes:
    data = dict(SAMPLES["observation"], padding="")
    missing = size - len(orjson.dumps(data))
    data["padding"] = "x" * missing
    raw = orjson.dumps(data)
    assert len(raw) == size
    return raw


def test_decode_event_of_exactly_max_bytes_accepted() -> None:
    decoded = decode_observation(_padded_to(MAX_EVENT_BYTES))

    assert decoded == observations()[0]


def test_decode_event_one_byte_over_max_bytes_raises_schema_error() -> None:
    with pytest.raises(SchemaError, match="exceeds"):
        decode_observation(_padded_to(MAX_EVENT_BYTES + 1))


# ---- versions ---------------------------------------------------------------------------------

BAD_VERSIONS = [2, 0, -1, "1", None, True, 1.0, [1], {"major": 1}, DELETE]


@pytest.mark.parametrize("version", BAD_VERSIONS, ids=repr)
@pytest.mark.parametrize("kind", sorted(DECODERS))
def test_decode_wrong_version_raises_unsupported_version_error(kind: str, version: Any) -> None:
    raw = _raw(kind, "v", version)

    for decode in _decoders(kind):
        with pytest.raises(UnsupportedVersionError):
            decode(raw)


# ---- missing fields ---------------------------------------------------------------------------

# Fields a decoder reads as absent-means-null; every other field of ``to_dict`` is required.
NULLABLE = {
    "observation": {"error", "frame_offset"},
    "dead_letter": {"session_id"},
    "identity_request": {"frame_offset"},
    "identity_sample": {"error"},
}
NESTED_REQUIRED = [
    ("session_started", "challenge.type"),
    ("session_started", "challenge.image_width"),
    ("session_started", "challenge.image_height"),
    ("session_started", "challenge.area"),
    ("session_started", "challenge.area.left"),
    ("session_started", "challenge.nose"),  # a nose challenge needs its target
    ("session_started", "challenge.nose.height"),
    ("observation", "faces.0.box"),
    ("observation", "faces.0.box.width"),
    ("observation", "faces.0.nose"),
    ("observation", "faces.0.yaw_deg"),
    ("observation", "faces.0.pitch_deg"),
    ("observation", "faces.0.roll_deg"),
    ("observation", "faces.0.landmarks"),
    ("decision", "checks.0.name"),
    ("decision", "checks.0.passed"),
]


def _required_fields() -> list[tuple[str, str]]:
    fields = [
        (kind, key)
        for kind, sample in sorted(SAMPLES.items())
        for key in sample
        if key not in NULLABLE.get(kind, set())
    ]
    return fields + NESTED_REQUIRED


@pytest.mark.parametrize(("kind", "path"), _rows(_required_fields()))
def test_decode_missing_field_raises_schema_error(kind: str, path: str) -> None:
    raw = _raw(kind, path, DELETE)

    for decode in _decoders(kind):
        with pytest.raises(SchemaError):
            decode(raw)


@pytest.mark.parametrize(("kind", "path"), _rows([(k, f) for k, fs in sorted(NULLABLE.items()) for f in fs]))
def test_decode_missing_nullable_field_reads_as_none(kind: str, path: str) -> None:
    raw = _raw(kind, path, DELETE)

    for decode in _decoders(kind):
        assert getattr(decode(raw), path) is None


# ---- unknown fields: ignored, for forward compatibility ------------------------------------------

UNKNOWN_FIELD_PLACES = [
    ("session_started", "future"),
    ("session_started", "challenge.future"),
    ("session_started", "challenge.area.future"),
    ("session_ended", "future"),
    ("session_tick", "future"),
    ("observation", "future"),
    ("observation", "faces.0.future"),
    ("observation", "faces.0.box.future"),
    ("decision", "future"),
    ("decision", "checks.0.future"),
    ("dead_letter", "future"),
]


@pytest.mark.parametrize(("kind", "path"), _rows(UNKNOWN_FIELD_PLACES))
def test_decode_unknown_field_ignored(kind: str, path: str) -> None:
    raw = _raw(kind, path, {"added_in": "a later minor release", "values": [1, 2.5]})

    for decode in _decoders(kind):
        assert decode(raw).to_dict() == SAMPLES[kind]


# ---- NaN, infinity, numbers out of range --------------------------------------------------------

NUMBER_PLACES = [
    ("observation", "inference_ms"),
    ("observation", "seq"),
    ("observation", "faces.0.yaw_deg"),
    ("observation", "faces.0.landmarks.4"),
    ("observation", "faces.0.nose.0"),
    ("observation", "faces.0.box.left"),
    ("session_started", "challenge.nose.left"),
    ("decision", "checks.0.value"),
    ("dead_letter", "occurred_at_ms"),
]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
@pytest.mark.parametrize(("kind", "path"), _rows(NUMBER_PLACES))
def test_decode_nan_or_infinity_raises_schema_error(kind: str, path: str, literal: bytes) -> None:
    raw = _raw(kind, path, "@number@").replace(b'"@number@"', literal)

    for decode in _decoders(kind):
        with pytest.raises(SchemaError):
            decode(raw)


OUT_OF_RANGE = [
    ("observation", "seq", 2**64),
    ("observation", "seq", 10**30),  # orjson reads integers past 64 bits as floats
    ("observation", "seq", -1),
    ("observation", "received_at_ms", 2**53 + 1),
    ("observation", "image_width", 0),
    ("observation", "inference_ms", 1e300),
    ("observation", "faces.0.yaw_deg", -1e12),
    ("observation", "faces.0.landmarks.4", 1e300),
    ("observation", "faces.0.landmarks.5", -1e12),
    ("observation", "faces.0.nose.0", 1e300),
    ("observation", "faces.0.box.width", 0),
    ("observation", "faces.0.box.height", -3.5),
    ("observation", "faces.0.box.top", 1e10),
    ("session_started", "expires_at_ms", 2**63),
    ("session_started", "challenge.image_width", 15),
    ("session_started", "challenge.image_height", 2**70),
    ("session_started", "challenge.blinks", 11),
    ("session_started", "challenge.blinks", -1),
    ("session_ended", "last_seq", -5),
    ("decision", "frames_used", 2**64),
    ("dead_letter", "source_offset", -1),
]


@pytest.mark.parametrize(("kind", "path", "value"), _rows(OUT_OF_RANGE))
def test_decode_number_out_of_range_raises_schema_error(kind: str, path: str, value: Any) -> None:
    raw = _raw(kind, path, value)

    for decode in _decoders(kind):
        with pytest.raises(SchemaError):
            decode(raw)


# ---- booleans where numbers belong, and other wrong types ---------------------------------------

WRONG_TYPES = [
    # booleans are ints in Python; on the wire they are not numbers
    ("observation", "seq", True),
    ("observation", "image_width", True),
    ("observation", "inference_ms", False),
    ("observation", "faces.0.landmarks.0", False),
    ("observation", "faces.0.nose.1", True),
    ("observation", "faces.0.box.left", True),
    ("session_started", "challenge.blinks", True),
    ("session_started", "issued_at_ms", False),
    ("session_ended", "last_seq", True),
    ("decision", "frames_used", True),
    ("decision", "checks.0.value", True),
    ("dead_letter", "source_partition", True),
    # and strings or integers are not booleans
    ("decision", "checks.0.passed", "false"),
    ("decision", "checks.0.passed", 1),
    ("decision", "checks.0.passed", None),
    # numbers as strings, objects where lists belong and the like
    ("observation", "seq", "7"),
    ("observation", "seq", 7.0),
    ("observation", "session_id", 5),
    ("observation", "session_id", ""),
    ("observation", "session_id", "s" * 257),
    ("observation", "faces", {}),
    ("observation", "faces", [1]),
    ("observation", "faces", ["face"]),
    ("observation", "faces.0.box", [0, 0, 10, 10]),
    ("observation", "faces.0.nose", [1.0]),
    ("observation", "faces.0.nose", "12"),
    ("observation", "faces.0.landmarks", [0.0, 0.0, 0.0]),
    ("observation", "faces.0.landmarks.2", "0.5"),
    ("observation", "error", 5),
    ("session_started", "challenge", "nose"),
    ("session_started", "challenge", None),
    ("session_started", "challenge.type", "smile"),
    ("session_started", "challenge.area", None),
    ("session_started", "challenge.area", "centre"),
    ("session_started", "challenge.nose", [1, 2, 3, 4]),
    ("session_started", "challenge.sequence", "left"),
    ("session_started", "challenge.sequence", ["north"]),
    ("session_started", "challenge.sequence", [["left"]]),
    ("session_started", "token", 7),
    ("session_started", "token", "t" * 1025),
    ("session_ended", "session_id", None),
    ("session_tick", "at_ms", "soon"),
    ("decision", "checks", "none"),
    ("decision", "checks", {"name": "x"}),
    ("decision", "checks", [5]),
    ("decision", "checks", ["nonplanarity"]),
    ("decision", "checks.0.name", 3),
    ("decision", "checks.0.name", ""),
    ("decision", "checks.0.value", "high"),
    ("decision", "checks.0.threshold", [0.1]),
    ("decision", "outcome", "maybe"),
    ("decision", "reason", "FELT_RIGHT"),
    ("decision", "challenge_type", 4),
    ("decision", "challenge_type", "smile"),
    ("dead_letter", "session_id", 7),
    ("dead_letter", "session_id", ""),
    ("dead_letter", "detail", 5),
    ("dead_letter", "payload_head", None),
    ("dead_letter", "reason", "FELT_WRONG"),
]


@pytest.mark.parametrize(("kind", "path", "value"), _rows(WRONG_TYPES))
def test_decode_wrong_type_raises_schema_error(kind: str, path: str, value: Any) -> None:
    raw = _raw(kind, path, value)

    for decode in _decoders(kind):
        with pytest.raises(SchemaError):
            decode(raw)


def test_decode_observation_with_more_than_sixteen_faces_raises_schema_error() -> None:
    face = SAMPLES["observation"]["faces"][0]
    raw = _raw("observation", "faces", [face] * 17)

    with pytest.raises(SchemaError):
        decode_observation(raw)


def test_decode_decision_pass_with_failure_reason_raises_schema_error() -> None:
    raw = _raw("decision", "outcome", "pass")  # the first sample failed: BAD_TOKEN

    with pytest.raises(SchemaError):
        decode_decision(raw)


# ---- frame headers ------------------------------------------------------------------------------

META = FrameMeta("0123456789abcdef", 41, 1_700_000_000_123)


def test_parse_frame_headers_round_trips_list_and_dict_forms() -> None:
    headers = frame_headers(META)

    assert parse_frame_headers(headers) == META
    assert parse_frame_headers(dict(headers)) == META
    assert dict(headers)["schema"] == FRAME_SCHEMA


def _headers_with(name: str, value: Any) -> list[tuple[str, Any]]:
    headers: list[tuple[str, Any]] = [(n, v) for n, v in frame_headers(META) if n != name]
    return headers if value is DELETE else [*headers, (name, value)]


BAD_HEADERS = [
    ("schema", DELETE),
    ("schema", b"frame/2"),
    ("schema", b"frame/0"),
    ("schema", "frame/1"),  # a str, not the bytes Kafka carries
    ("schema", None),
    ("session-id", DELETE),
    ("session-id", b""),
    ("session-id", b"\xff\xfe\xfd"),
    ("session-id", b"s" * 257),
    ("session-id", None),
    ("seq", DELETE),
    ("seq", b""),
    ("seq", b"abc"),
    ("seq", b"-1"),
    ("seq", b"2147483648"),
    ("seq", b"4.0"),
    ("seq", b"\x00\x07"),
    ("seq", None),  # Kafka allows a header with a null value
    ("captured-at-ms", DELETE),
    ("captured-at-ms", b"1.7e12"),
    ("captured-at-ms", b"-1"),
    ("captured-at-ms", b"9007199254740992"),
    ("captured-at-ms", None),
]


@pytest.mark.parametrize(("name", "value"), _rows(BAD_HEADERS))
def test_parse_frame_headers_missing_or_garbled_raises_schema_error(name: str, value: Any) -> None:
    with pytest.raises(SchemaError):
        parse_frame_headers(_headers_with(name, value))


@pytest.mark.parametrize("headers", [None, [], {}, [("schema", FRAME_SCHEMA)]], ids=repr)
def test_parse_frame_headers_absent_raises_schema_error(headers: Any) -> None:
    with pytest.raises(SchemaError):
        parse_frame_headers(headers)


def test_parse_frame_headers_extra_header_ignored() -> None:
    headers = [*frame_headers(META), ("traceparent", b"00-abc-def-01")]

    assert parse_frame_headers(headers) == META
