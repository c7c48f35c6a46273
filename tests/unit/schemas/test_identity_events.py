"""The identity stage's events on the wire: a real embedding round-trips, anything else is refused."""

from __future__ import annotations

import json
from typing import Any

import cv2
import orjson
import pytest

from devtools.media import fetch_media
from processors.identity import IdentityModel
from processors.landmarks import FaceAnalyzer
from schemas.codec import decode_identity_request, decode_verifier_input, encode
from schemas.errors import SchemaError
from schemas.events import IdentityRequest, IdentitySample


@pytest.fixture(scope="module")
def embedding() -> tuple[float, ...]:
    """The identity embedding of a real face."""
    image = cv2.imread(str(fetch_media().root / "audrey_crop.jpg"), cv2.IMREAD_COLOR)
    assert image is not None
    with FaceAnalyzer() as analyzer:
        (mesh,) = analyzer.mesh_points(image)
    return tuple(float(v) for v in IdentityModel().embed(image, mesh))


def test_identity_sample_round_trips_rounded_to_five_decimals(embedding: tuple[float, ...]) -> None:
    decoded = decode_verifier_input(encode(IdentitySample("s-1", 3, embedding)))

    assert isinstance(decoded, IdentitySample)
    assert decoded.embedding == tuple(round(v, 5) for v in embedding)
    assert (decoded.session_id, decoded.seq, decoded.error) == ("s-1", 3, None)


def test_identity_sample_with_an_error_and_no_embedding_round_trips() -> None:
    sample = IdentitySample("s-1", 3, (), "2 faces in the frame")

    assert decode_verifier_input(encode(sample)) == sample


def test_identity_sample_with_neither_embedding_nor_error_is_refused() -> None:
    with pytest.raises(SchemaError, match="embedding or an error"):
        decode_verifier_input(encode(IdentitySample("s-1", 3, ())))


@pytest.mark.parametrize("awaited", [False, True])
@pytest.mark.parametrize("offset", [None, 0, 12_345])
def test_identity_request_round_trips(offset: int | None, awaited: bool) -> None:
    request = IdentityRequest("s-1", 7, offset, 1_700_000_000_000, awaited)

    assert decode_identity_request(encode(request)) == request


def test_identity_request_nothing_waits_for_is_written_without_the_awaited_field() -> None:
    raw = orjson.loads(encode(IdentityRequest("s-1", 7, 3, 1_700_000_000_000)))

    assert "awaited" not in raw
    assert orjson.loads(encode(IdentityRequest("s-1", 7, 3, 1_700_000_000_000, True)))["awaited"] is True


@pytest.mark.parametrize("value", ["yes", 1, [True]])
def test_identity_request_with_an_awaited_that_is_not_a_boolean_is_refused(value: Any) -> None:
    data = orjson.loads(encode(IdentityRequest("s-1", 7, 3, 1_700_000_000_000)))
    data["awaited"] = value

    with pytest.raises(SchemaError, match="awaited"):
        decode_identity_request(orjson.dumps(data))


def _raw_with_embedding(value: Any) -> bytes:
    data = orjson.loads(encode(IdentitySample("s-1", 3, (0.5,) * 4)))
    data["embedding"] = value
    return json.dumps(data).encode()  # stdlib json: writes NaN and Infinity as a hostile producer could


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([0.1, float("nan")], id="nan"),
        pytest.param([float("inf")] * 3, id="infinite"),
        pytest.param([0.01] * 513, id="too-long"),
        pytest.param(["0.1", "0.2"], id="strings"),
        pytest.param([True, False], id="bools"),
        pytest.param([[0.1], [0.2]], id="nested"),
        pytest.param("0.1,0.2", id="not-a-list"),
        pytest.param({"0": 0.1}, id="object"),
    ],
)
def test_identity_sample_embedding_that_is_not_a_short_list_of_finite_numbers_is_refused(value: Any) -> None:
    with pytest.raises(SchemaError):
        decode_verifier_input(_raw_with_embedding(value))


def test_identity_sample_embedding_of_512_numbers_is_accepted() -> None:
    decoded = decode_verifier_input(_raw_with_embedding([0.04] * 512))
    assert isinstance(decoded, IdentitySample) and len(decoded.embedding) == 512
