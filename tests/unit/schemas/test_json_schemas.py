"""The published JSON Schemas: generated, current, valid Draft 2020-12, and in step with the decoders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from sample_events import all_events

from schemas.codec import (
    decode_dead_letter,
    decode_decision,
    decode_identity_request,
    decode_observation,
    decode_session_event,
    decode_verifier_input,
    encode,
)
from schemas.errors import SchemaError
from schemas.events import CHALLENGE_TYPES
from schemas.json_schemas import KINDS, SCHEMA_DIR, all_schemas, main, rendered_files
from schemas.reasons import DeadLetterReason, Reason

VALIDATORS = {kind: Draft202012Validator(schema) for kind, schema in all_schemas().items()}
DECODERS = {
    "session_started": decode_session_event,
    "session_ended": decode_session_event,
    "observation": decode_observation,
    "decision": decode_decision,
    "dead_letter": decode_dead_letter,
    "identity_request": decode_identity_request,
    "identity_sample": decode_verifier_input,
}
PUBLISHED = [event for event in all_events() if event.kind in KINDS]


def test_json_schema_committed_files_equal_generated() -> None:
    committed = {path.name: path.read_bytes() for path in sorted(SCHEMA_DIR.glob("*.json"))}

    assert committed == rendered_files(), "run: python -m schemas.json_schemas"


def test_json_schema_main_writes_the_committed_files(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0

    written = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert written == {path.name: path.read_bytes() for path in SCHEMA_DIR.glob("*.json")}


def test_json_schema_main_check_stale_file_exits_one_and_writes_nothing(tmp_path: Path) -> None:
    main(["--out", str(tmp_path)])
    (tmp_path / "decision.json").write_text("{}\n")

    assert main(["--out", str(tmp_path), "--check"]) == 1
    assert (tmp_path / "decision.json").read_text() == "{}\n"
    assert main(["--check"]) == 0  # the committed files are current


def test_json_schema_one_file_per_published_kind() -> None:
    assert sorted(rendered_files()) == sorted(f"{kind}.json" for kind in KINDS)
    assert set(KINDS) == {event.kind for event in PUBLISHED}


@pytest.mark.parametrize("kind", KINDS)
def test_json_schema_is_valid_draft_2020_12(kind: str) -> None:
    schema = all_schemas()[kind]

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["kind"] == {"const": kind}


def test_json_schema_decision_reasons_are_the_closed_set_of_reason_codes() -> None:
    properties = all_schemas()["decision"]["properties"]

    assert properties["reason"]["enum"] == [reason.value for reason in Reason]
    assert properties["challenge_type"]["enum"] == list(CHALLENGE_TYPES)


def test_json_schema_dead_letter_reasons_are_the_closed_set_of_dead_letter_codes() -> None:
    reasons = all_schemas()["dead_letter"]["properties"]["reason"]["enum"]

    assert reasons == [reason.value for reason in DeadLetterReason]


@pytest.mark.parametrize("event", PUBLISHED, ids=lambda event: event.kind)
def test_json_schema_encoded_real_event_valid(event: Any) -> None:
    instance = orjson.loads(encode(event))

    errors = [error.message for error in VALIDATORS[event.kind].iter_errors(instance)]

    assert errors == []


# ---- the schemas and the decoders agree ---------------------------------------------------------

SAMPLES = {}
for _event in PUBLISHED:
    SAMPLES.setdefault(_event.kind, orjson.loads(encode(_event)))


def _changed(kind: str, path: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(SAMPLES[kind]))
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value == "<delete>":
        del node[int(last) if isinstance(node, list) else last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return data


# (kind, path, value, valid): each row is checked against both the schema and the decoder.
CHANGES = [
    ("session_started", "future_field", {"any": "thing"}, True),
    ("session_started", "challenge.future_field", 1, True),
    ("session_started", "v", 2, False),
    ("session_started", "v", True, False),
    ("session_started", "token", "<delete>", False),
    ("session_started", "token", "", False),
    ("session_started", "challenge.type", "smile", False),
    ("session_started", "challenge.nose", "<delete>", False),
    ("session_started", "challenge.nose.width", 0, False),
    ("session_started", "challenge.image_width", 15, False),
    ("session_started", "challenge.image_width", True, False),
    ("session_started", "expires_at_ms", -1, False),
    ("session_started", "expires_at_ms", 2**53 + 1, False),
    ("session_ended", "last_seq", "7", False),
    ("session_ended", "extra", [], True),
    ("observation", "faces", [], True),
    ("observation", "error", "<delete>", True),
    ("observation", "error", "CORRUPT_FRAME", True),
    ("observation", "error", 3, False),
    ("observation", "faces.0.landmarks.0", 1e10, False),
    ("observation", "faces.0.landmarks.0", None, False),
    ("observation", "faces.0.nose", [1, 2, 3], False),
    ("observation", "faces.0.yaw_deg", "<delete>", False),
    ("observation", "faces.0.future_field", "x", True),
    ("observation", "seq", False, False),
    ("observation", "inference_ms", -1e10, False),
    ("decision", "reason", "FELT_RIGHT", False),
    ("decision", "reason", "PASSED", False),  # the sample failed: pass and PASSED go together
    ("decision", "outcome", "maybe", False),
    ("decision", "checks.0.passed", "yes", False),
    ("decision", "checks.0.value", None, True),
    ("decision", "checks.0.value", "<delete>", True),
    ("decision", "checks.0.name", "<delete>", False),
    ("decision", "challenge_type", "smile", False),
    ("decision", "frames_used", 1.5, False),
    ("dead_letter", "reason", "NOT_A_CODE", False),
    ("dead_letter", "session_id", "<delete>", True),
    ("dead_letter", "session_id", "s-1", True),
    ("dead_letter", "session_id", 12, False),
    ("dead_letter", "detail", "", True),
    ("dead_letter", "detail", None, False),
    ("dead_letter", "source_partition", -1, False),
]


def _decodes(kind: str, data: dict[str, Any]) -> bool:
    try:
        DECODERS[kind](json.dumps(data).encode())
    except SchemaError:
        return False
    return True


@pytest.mark.parametrize(
    ("kind", "path", "value", "valid"),
    [pytest.param(*row, id=f"{row[0]}.{row[1]}={str(row[2])[:16]}") for row in CHANGES],
)
def test_json_schema_and_decoder_agree_on_changed_event(
    kind: str, path: str, value: Any, valid: bool
) -> None:
    data = _changed(kind, path, value)

    assert VALIDATORS[kind].is_valid(data) is valid
    assert _decodes(kind, data) is valid


def test_json_schema_turn_and_blink_challenges_need_their_task() -> None:
    validator = VALIDATORS["session_started"]
    starts = {
        event.challenge.type: orjson.loads(encode(event))
        for event in PUBLISHED
        if event.kind == "session_started"
    }
    turn, blink = starts["turn"], starts["blink"]
    turn["challenge"]["sequence"] = []
    blink["challenge"]["blinks"] = 0

    assert not validator.is_valid(turn)
    assert not validator.is_valid(blink)
    assert not _decodes("session_started", turn)
    assert not _decodes("session_started", blink)
