"""Bytes on the wire: orjson for JSON events, Kafka headers for frame metadata."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from schemas.errors import SchemaError
from schemas.events import (
    SCHEMA_VERSION,
    DeadLetter,
    Decision,
    FrameMeta,
    IdentityRequest,
    IdentitySample,
    Observation,
    SessionEnded,
    SessionStarted,
    SessionTick,
)
from schemas.limits import MAX_CAPTURED_AT_MS, MAX_ID_CHARS, MAX_SEQ

FRAME_SCHEMA = f"frame/{SCHEMA_VERSION}".encode()
MAX_EVENT_BYTES = 256 * 1024  # observations are ~2 KB; anything this large is hostile


class Encodable(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def encode(event: Encodable) -> bytes:
    """Serialise any JSON event of ``schemas.events``."""
    return orjson.dumps(event.to_dict())


def _load(raw: bytes | None) -> Any:
    if raw is None:
        raise SchemaError("empty event")
    if len(raw) > MAX_EVENT_BYTES:
        raise SchemaError(f"event of {len(raw)} bytes exceeds {MAX_EVENT_BYTES}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"not valid JSON: {exc}") from None


def decode_session_event(raw: bytes | None) -> SessionStarted | SessionEnded:
    """A record of the sessions topic: a session start or a client's end of session."""
    data = _load(raw)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "session_started":
        return SessionStarted.from_dict(data)
    if kind == "session_ended":
        return SessionEnded.from_dict(data)
    raise SchemaError(f"unknown session event kind {kind!r}")


VerifierInput = SessionStarted | SessionEnded | Observation | SessionTick | IdentitySample


def decode_verifier_input(raw: bytes | None) -> VerifierInput:
    """A record of any topic the verifier reads (sessions, observations and identity samples, its ticks)."""
    data = _load(raw)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "observation":
        return Observation.from_dict(data)
    if kind == "session_tick":
        return SessionTick.from_dict(data)
    if kind == "identity_sample":
        return IdentitySample.from_dict(data)
    if kind == "session_started":
        return SessionStarted.from_dict(data)
    if kind == "session_ended":
        return SessionEnded.from_dict(data)
    raise SchemaError(f"unknown event kind {kind!r}")


def decode_identity_request(raw: bytes | None) -> IdentityRequest:
    """A record of the identity-requests topic."""
    return IdentityRequest.from_dict(_load(raw))


def decode_observation(raw: bytes | None) -> Observation:
    return Observation.from_dict(_load(raw))


def decode_decision(raw: bytes | None) -> Decision:
    return Decision.from_dict(_load(raw))


def decode_dead_letter(raw: bytes | None) -> DeadLetter:
    return DeadLetter.from_dict(_load(raw))


def frame_headers(meta: FrameMeta) -> list[tuple[str, bytes]]:
    """Kafka headers that carry a frame's metadata next to its raw JPEG value."""
    return [
        ("schema", FRAME_SCHEMA),
        ("session-id", meta.session_id.encode()),
        ("seq", str(meta.seq).encode()),
        ("captured-at-ms", str(meta.captured_at_ms).encode()),
    ]


def parse_frame_headers(headers: Iterable[tuple[str, bytes]] | dict[str, bytes] | None) -> FrameMeta:
    """Read frame metadata back from Kafka headers; raises ``SchemaError`` when any is wrong."""
    items = dict(headers.items() if isinstance(headers, dict) else (headers or ()))
    schema = items.get("schema")
    if schema != FRAME_SCHEMA:
        raise SchemaError(f"frame schema {schema!r} is not {FRAME_SCHEMA!r}")
    try:
        session_id = items["session-id"].decode()
        seq = int(items["seq"])
        captured_at_ms = int(items["captured-at-ms"])
    except (KeyError, ValueError, TypeError, UnicodeDecodeError, AttributeError) as exc:
        raise SchemaError(f"bad frame headers: {exc!r}") from None
    if (
        not session_id
        or len(session_id) > MAX_ID_CHARS
        or not 0 <= seq <= MAX_SEQ
        or not 0 <= captured_at_ms <= MAX_CAPTURED_AT_MS
    ):
        raise SchemaError("frame header out of range")
    return FrameMeta(session_id=session_id, seq=seq, captured_at_ms=captured_at_ms)
