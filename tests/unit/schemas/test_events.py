"""The event records themselves: box geometry, challenge rules, landmark access, dead-letter building."""

from __future__ import annotations

from typing import Any

import pytest
from sample_events import real_analysis

from schemas.errors import SchemaError
from schemas.events import (
    LANDMARK_SUBSET,
    Box,
    Challenge,
    SourceRef,
    dead_letter,
)
from schemas.reasons import DeadLetterReason, Reason

AREA = Box(185, 60, 270, 360)


@pytest.mark.parametrize(
    ("inner", "contained"),
    [
        (Box(185, 60, 270, 360), True),  # the same box: edges count as inside
        (Box(200, 100, 100, 100), True),
        (Box(184.9, 100, 100, 100), False),
        (Box(200, 100, 255.1, 100), False),
        (Box(200, 59, 100, 100), False),
        (Box(200, 100, 100, 320.5), False),
    ],
)
def test_box_contains_box_edges_inclusive(inner: Box, contained: bool) -> None:
    assert AREA.contains_box(inner) is contained


@pytest.mark.parametrize(
    ("point", "contained"),
    [
        ((185, 60), True),
        ((455, 420), True),
        ((320, 240), True),
        ((184.99, 240), False),
        ((320, 420.01), False),
    ],
)
def test_box_contains_point_edges_inclusive(point: tuple[float, float], contained: bool) -> None:
    assert AREA.contains_point(*point) is contained


def test_box_widened_grows_each_side_by_fraction() -> None:
    nose = Box(370, 250, 20, 20)

    wider = nose.widened(0.55)

    assert (wider.left, wider.top, wider.width, wider.height) == pytest.approx((359, 239, 42, 42))
    assert wider.centre == nose.centre


# ---- challenges -------------------------------------------------------------------------------


def _challenge_dict(**changes: Any) -> dict[str, Any]:
    data = Challenge("nose", 640, 480, AREA, nose=Box(370, 250, 20, 20)).to_dict()
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "blink", "nose": None, "blinks": 0},  # would pass without a single blink
        {"type": "blink", "nose": None},
        {"type": "turn", "nose": None},  # no side to turn to
        {"type": "turn", "nose": None, "sequence": []},
        {"type": "nose", "nose": None},
    ],
    ids=["blink-zero", "blink-missing", "turn-missing", "turn-empty", "nose-missing"],
)
def test_challenge_from_dict_without_a_task_raises_schema_error(changes: dict[str, Any]) -> None:
    with pytest.raises(SchemaError):
        Challenge.from_dict(_challenge_dict(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "blink", "nose": None, "blinks": 1},
        {"type": "blink", "nose": None, "blinks": 2},
        {"type": "turn", "nose": None, "sequence": ["left", "right"]},
        {},
    ],
    ids=["blink-1", "blink-2", "turn", "nose"],
)
def test_challenge_from_dict_of_each_type_round_trips(changes: dict[str, Any]) -> None:
    data = _challenge_dict(**changes)

    assert Challenge.from_dict(data).to_dict() == data


# ---- faces --------------------------------------------------------------------------------------


def test_face_point_reads_landmarks_in_subset_order() -> None:
    face = real_analysis().faces[0]

    points = [face.point(index) for index in LANDMARK_SUBSET]

    assert [value for point in points for value in point] == list(face.landmarks)
    assert face.point(1)[:2] == pytest.approx(face.nose, abs=0.11)  # landmark 1 is the nose tip


def test_face_point_outside_subset_raises_key_error() -> None:
    face = real_analysis().faces[0]

    with pytest.raises(KeyError):
        face.point(468)


def test_landmark_subset_has_no_duplicates_and_fits_the_mesh() -> None:
    assert len(set(LANDMARK_SUBSET)) == len(LANDMARK_SUBSET)
    assert all(0 <= index < 468 for index in LANDMARK_SUBSET)


# ---- dead letters and reason codes ------------------------------------------------------------


def test_dead_letter_keeps_head_of_payload_and_truncates_detail() -> None:
    payload = bytes(range(100))

    letter = dead_letter("CORRUPT_FRAME", "x" * 5000, SourceRef("t", 1, 2), payload, "s", 7)

    assert letter.payload_bytes == 100
    assert bytes.fromhex(letter.payload_head) == payload[:32]
    assert len(letter.detail) == 1000
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("t", 1, 2)


def test_dead_letter_of_missing_payload_is_empty() -> None:
    letter = dead_letter("BAD_EVENT", "", SourceRef("t", 0, 0), None, None, 7)

    assert (letter.payload_bytes, letter.payload_head) == (0, "")


def test_reason_codes_equal_their_names_and_only_passed_is_a_pass() -> None:
    assert all(reason.value == reason.name for reason in Reason)
    assert all(reason.value == reason.name for reason in DeadLetterReason)
    assert [reason for reason in Reason if reason.value.startswith("PASS")] == [Reason.PASSED]
