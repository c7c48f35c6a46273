"""The table row codec: exact round trips, rows of older workers, corrupt rows."""

from __future__ import annotations

import zlib

import orjson
import pytest
from real_faces import PEOPLE, ended, nose_challenge, nose_path, observations, play, real_mesh, started

from verifier.rows import RowError, decode_row, encode_row, row_decided
from verifier.session import Session


def _sessions() -> list[Session]:
    """A session mid-challenge (faces, shapes and progress held) and one decided."""
    challenge = nose_challenge()
    frames = observations(nose_path(real_mesh(PEOPLE[0]), challenge, 25.0, 12))
    open_session, _ = play([started(challenge), *frames[:6]])  # type: ignore[arg-type]
    decided_session, _ = play([started(challenge), *frames, ended(frames[-1].seq)])  # type: ignore[arg-type]
    assert open_session is not None and not open_session.decided and open_session.reference is not None
    assert decided_session is not None and decided_session.decided
    return [open_session, decided_session]


@pytest.mark.parametrize("decided", [False, True])
def test_encode_row_round_trip_is_exact_and_tagged(decided: bool) -> None:
    session = _sessions()[0]
    snapshot = session.to_dict()

    row = encode_row(snapshot, decided)

    assert decode_row(row) == orjson.loads(orjson.dumps(snapshot))
    assert row_decided(row) is decided
    assert len(row) < len(orjson.dumps(snapshot)) / 2  # landmark JSON deflates well


def test_session_from_row_equals_session_for_open_and_decided() -> None:
    for session in _sessions():
        row = session.to_row()

        assert Session.from_row(row).to_dict() == session.to_dict()
        assert Session.row_decided(row) is session.decided


@pytest.mark.parametrize("level", [3, 9])
def test_decode_row_reads_rows_of_older_workers_at_any_level(level: int) -> None:
    session = _sessions()[0]
    older = b"\x01" + zlib.compress(orjson.dumps(session.to_dict()), level)

    assert Session.from_row(older).to_dict() == session.to_dict()
    assert Session.row_decided(older) is False


def test_decode_row_reads_plain_json_rows() -> None:
    session = _sessions()[0]
    plain = orjson.dumps(session.to_dict())

    assert row_decided(plain) is None
    assert Session.from_row(plain).to_dict() == session.to_dict()
    assert Session.row_decided(plain) is False


@pytest.mark.parametrize("row", [b"", b"\x01not deflate", b"\x02" + zlib.compress(b"[1, 2]"), b"{half"])
def test_decode_row_corrupt_row_raises_row_error(row: bytes) -> None:
    with pytest.raises(RowError):
        decode_row(row)
