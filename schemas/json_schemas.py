"""JSON Schemas (Draft 2020-12) of the JSON events, for consumers outside this codebase.

The files in ``schemas/jsonschema/`` are generated from this module; never edit
them by hand: run ``python -m schemas.json_schemas`` and commit the result (a
unit test fails while they differ).

The schemas say what the decoders of ``schemas.events`` accept: the same
required fields, types, ranges and closed sets of codes (decision and
dead-letter reasons). Unknown fields are allowed everywhere
(``additionalProperties`` is left open): a producer may add an optional field
without a version bump, and a consumer must ignore fields it does not know.
Anything else changes ``v``. One difference JSON Schema cannot express: it
counts ``1.0`` as an integer, while the decoders want integers written as such.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from schemas import limits
from schemas.events import (
    CHALLENGE_TYPES,
    LANDMARK_SUBSET,
    MAX_EMBEDDING,
    MAX_TARGETS,
    MIN_TARGETS,
    SCHEMA_VERSION,
)
from schemas.reasons import DeadLetterReason, Reason

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).parent / "jsonschema"
KINDS = (
    "session_started",
    "session_ended",
    "observation",
    "decision",
    "dead_letter",
    "identity_request",
    "identity_sample",
)

# The decoders' bounds (schemas.events): integers are non-negative and at most 2**53
# (exact in a double), other numbers finite and within +-1e9.
MAX_INT = limits.MAX_INT
MAX_NUMBER = 1e9
MAX_ID_CHARS = 256
MAX_TOKEN_CHARS = 1024
MAX_FACES = 16

Schema = dict[str, Any]


def _integer(minimum: int = 0, maximum: int = MAX_INT) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def _number() -> Schema:
    return {"type": "number", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER}


def _identifier(max_length: int = MAX_ID_CHARS) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def _object(properties: dict[str, Schema], required: Sequence[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
    }


def _event(
    kind: str,
    title: str,
    description: str,
    properties: dict[str, Schema],
    optional: Sequence[str] = (),
    extra: Schema | None = None,
) -> Schema:
    """The schema of one event kind: its header (``kind``, ``v``), its fields, and ``extra`` keywords.

    ``optional`` fields are nullable ones a decoder reads as null when absent.
    """
    header: dict[str, Schema] = {"kind": {"const": kind}, "v": {"const": SCHEMA_VERSION}}
    body = _object({**header, **properties}, [k for k in (*header, *properties) if k not in optional])
    return {
        "$schema": DRAFT,
        "$id": f"urn:liveness-stream:schema:{kind}:v{SCHEMA_VERSION}",
        "title": title,
        "description": description + " Unknown fields are ignored (forward compatibility).",
        **body,
        **(extra or {}),
    }


def _defs_box() -> Schema:
    return _object(
        {
            "left": _number(),
            "top": _number(),
            "width": {**_number(), "exclusiveMinimum": 0},
            "height": {**_number(), "exclusiveMinimum": 0},
        }
    )


def _defs_challenge() -> Schema:
    def needs(kind: str, then: Schema) -> Schema:
        return {"if": {"properties": {"type": {"const": kind}}}, "then": then}

    schema = _object(
        {
            "type": {"enum": list(CHALLENGE_TYPES)},
            "image_width": _integer(minimum=16),
            "image_height": _integer(minimum=16),
            "area": {"$ref": "#/$defs/box"},
            "nose": {"anyOf": [{"$ref": "#/$defs/box"}, {"type": "null"}]},
            "sequence": {"type": "array", "items": {"enum": ["left", "right"]}, "maxItems": 4},
            "blinks": _integer(maximum=10),
            "targets": {
                "type": "array",
                "description": "nose_sequence: the boxes the nose must rest in, one after another, in order",
                "items": {"$ref": "#/$defs/box"},
                "maxItems": MAX_TARGETS,
            },
        },
        ["type", "image_width", "image_height", "area"],
    )
    schema["allOf"] = [
        needs("nose", {"required": ["nose"], "properties": {"nose": {"$ref": "#/$defs/box"}}}),
        needs("turn", {"required": ["sequence"], "properties": {"sequence": {"minItems": 1}}}),
        needs("blink", {"required": ["blinks"], "properties": {"blinks": {"minimum": 1}}}),
        needs(
            "nose_sequence",
            {"required": ["targets"], "properties": {"targets": {"minItems": MIN_TARGETS}}},
        ),
    ]
    return schema


def _defs_face() -> Schema:
    count = 3 * len(LANDMARK_SUBSET)
    landmarks = {
        "type": "array",
        "description": "x, y, z (pixels) of each FaceMesh landmark of LANDMARK_SUBSET, flattened, in order: "
        + ", ".join(map(str, LANDMARK_SUBSET)),
        "items": _number(),
        "minItems": count,
        "maxItems": count,
    }
    return _object(
        {
            "box": {"$ref": "#/$defs/box"},
            "nose": {"type": "array", "items": _number(), "minItems": 2, "maxItems": 2},
            "yaw_deg": _number(),
            "pitch_deg": _number(),
            "roll_deg": _number(),
            "landmarks": landmarks,
        },
        ["box", "nose", "yaw_deg", "pitch_deg", "roll_deg", "landmarks"],
    )


def _nullable_number() -> Schema:
    return {"type": ["number", "null"]}


def session_started_schema() -> Schema:
    return _event(
        "session_started",
        "Session started",
        "A challenge was issued for a session; the token binds the session id, the challenge and the expiry.",
        {
            "session_id": _identifier(),
            "challenge": {"$ref": "#/$defs/challenge"},
            "issued_at_ms": _integer(),
            "expires_at_ms": _integer(),
            "token": _identifier(MAX_TOKEN_CHARS),
            "tenant": _identifier(),
            "user_ref": _identifier(),
            "client_ref": _identifier(),
        },
        optional=("tenant", "user_ref", "client_ref"),
        extra={"$defs": {"box": _defs_box(), "challenge": _defs_challenge()}},
    )


def session_ended_schema() -> Schema:
    return _event(
        "session_ended",
        "Session ended",
        "The client sent its last frame, last_seq; the verifier decides once every frame up to it is in.",
        {"session_id": _identifier(), "ended_at_ms": _integer(), "last_seq": _integer()},
    )


def observation_schema() -> Schema:
    return _event(
        "observation",
        "Observation",
        "What one frame showed. received_at_ms is the server's receive time; captured_at_ms the client's "
        "claim. error is set (faces empty) when the frame could not be analysed.",
        {
            "session_id": _identifier(),
            "seq": _integer(),
            "captured_at_ms": _integer(),
            "received_at_ms": _integer(),
            "image_width": _integer(minimum=1),
            "image_height": _integer(minimum=1),
            "faces": {"type": "array", "items": {"$ref": "#/$defs/face"}, "maxItems": MAX_FACES},
            "inference_ms": _number(),
            "error": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_ID_CHARS},
            "frame_offset": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "the frame's offset on the frames topic, in this record's partition",
            },
        },
        optional=("error", "frame_offset"),
        extra={"$defs": {"box": _defs_box(), "face": _defs_face()}},
    )


def identity_request_schema() -> Schema:
    return _event(
        "identity_request",
        "Identity request",
        "The verifier asks for the face embedding of frame seq (a milestone of its challenge); "
        "frame_offset locates the frame on the frames topic, in this record's partition; awaited: a "
        "decision waits for this sample, so the identity stage answers it first.",
        {
            "session_id": _identifier(),
            "seq": _integer(),
            "frame_offset": {"type": ["integer", "null"], "minimum": 0},
            "requested_at_ms": _integer(),
            "awaited": {"type": ["boolean", "null"]},
        },
        optional=("awaited",),
    )


def identity_sample_schema() -> Schema:
    return _event(
        "identity_sample",
        "Identity sample",
        "The face embedding (L2-normalised) of a requested frame, or the reason there is none (error).",
        {
            "session_id": _identifier(),
            "seq": _integer(),
            "embedding": {"type": "array", "items": _number(), "maxItems": MAX_EMBEDDING},
            "error": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_ID_CHARS},
        },
        optional=("error",),
    )


def decision_schema() -> Schema:
    check = _object(
        {
            "name": _identifier(),
            "value": _nullable_number(),
            "threshold": _nullable_number(),
            "passed": {"type": "boolean"},
        },
        ["name", "passed"],
    )
    return _event(
        "decision",
        "Decision",
        "The one verdict of a session: outcome pass exactly when reason is PASSED, with every check.",
        {
            "session_id": _identifier(),
            "outcome": {"enum": ["pass", "fail"]},
            "reason": {"enum": [reason.value for reason in Reason]},
            "challenge_type": {"enum": list(CHALLENGE_TYPES)},
            "checks": {"type": "array", "items": check},
            "frames_used": _integer(),
            "frames_ignored": _integer(),
            "started_at_ms": _integer(),
            "decided_at_ms": _integer(),
            "tenant": _identifier(),
            "user_ref": _identifier(),
            "reference_embedding": {"type": "array", "items": _number(), "maxItems": 512},
            "signature": _object(
                {"alg": {"const": "EdDSA"}, "kid": _identifier(), "jws": _identifier(65536)}
            ),
            "evidence": _object(
                {
                    "reference": _identifier(),
                    "audit": {"type": "array", "items": _identifier(), "maxItems": 16},
                    "frames": {
                        "type": "array",
                        "items": {"type": "array", "items": _integer(), "minItems": 2, "maxItems": 2},
                        "maxItems": 16,
                    },
                }
            ),
        },
        optional=("tenant", "user_ref", "reference_embedding", "signature", "evidence"),
        extra={
            "if": {"properties": {"outcome": {"const": "pass"}}},
            "then": {"properties": {"reason": {"const": Reason.PASSED.value}}},
            "else": {"properties": {"reason": {"not": {"const": Reason.PASSED.value}}}},
        },
    )


def dead_letter_schema() -> Schema:
    return _event(
        "dead_letter",
        "Dead letter",
        "An input that could not be processed, with the reason and where it came from.",
        {
            "reason": {"enum": [reason.value for reason in DeadLetterReason]},
            "detail": {"type": "string"},
            "source_topic": _identifier(),
            "source_partition": _integer(),
            "source_offset": _integer(),
            "session_id": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_ID_CHARS},
            "payload_bytes": _integer(),
            "payload_head": {"type": "string", "description": "the payload's first 32 bytes, in hex"},
            "occurred_at_ms": _integer(),
        },
        optional=("session_id",),
    )


BUILDERS = {
    "session_started": session_started_schema,
    "session_ended": session_ended_schema,
    "observation": observation_schema,
    "decision": decision_schema,
    "dead_letter": dead_letter_schema,
    "identity_request": identity_request_schema,
    "identity_sample": identity_sample_schema,
}


def all_schemas() -> dict[str, Schema]:
    """Every event kind's schema, by kind."""
    return {kind: BUILDERS[kind]() for kind in KINDS}


def render(schema: Schema) -> bytes:
    """A schema as its committed file: two-space indented JSON, keys sorted, a final newline."""
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def rendered_files() -> dict[str, bytes]:
    """File name -> content of every generated schema file."""
    return {f"{kind}.json": render(schema) for kind, schema in all_schemas().items()}


def main(argv: Sequence[str] | None = None) -> int:
    """Write the JSON Schema files (``--check``: only report whether the committed ones are current)."""
    parser = argparse.ArgumentParser(prog="python -m schemas.json_schemas", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help=f"directory (default: {SCHEMA_DIR})")
    parser.add_argument("--check", action="store_true", help="exit 1 if any file differs; write nothing")
    args = parser.parse_args(argv)
    stale = [name for name, content in rendered_files().items() if _read(args.out / name) != content]
    if args.check:
        for name in stale:
            print(f"{args.out / name} is out of date; run python -m schemas.json_schemas", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in rendered_files().items():
        (args.out / name).write_bytes(content)
    return 0


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


if __name__ == "__main__":
    sys.exit(main())
