"""The verifier table's row codec: a session's JSON-able snapshot as compact bytes, and back.

A row is rewritten at every batch that touches its session, so encoding it is on the hot
path. A row is a tag byte, then the snapshot as JSON (orjson), deflated. The tag says
whether the session is decided, so a scan for open sessions reads one byte of each decided
row (they stay forever). A row without a tag is plain JSON, as rows were first written, so
a changelog of any older worker still loads, and rows of this codec load in older workers.

Why JSON deflated at level 1, not packed doubles: the landmarks arrive rounded to 0.1 px,
so most floats are 5-6 characters of JSON; as doubles they take 8 bytes, found by a Python
walk over the snapshot, which measured both larger (over three times) and slower than
formatting them. Level 1 costs about half of level 3 for a few per cent more bytes.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

OPEN, DECIDED = 0x01, 0x02
LEVEL = 1


class RowError(ValueError):
    """A table row in no known format (a corrupt changelog record)."""


def encode_row(snapshot: dict[str, Any], decided: bool) -> bytes:
    """``snapshot`` (a session's ``to_dict``) as a row; ``decode_row`` gives back an equal dict."""
    tag = b"\x02" if decided else b"\x01"
    return tag + zlib.compress(orjson.dumps(snapshot), LEVEL)


def decode_row(row: bytes) -> dict[str, Any]:
    """The snapshot of a row this codec wrote, or an older worker (any level, or plain JSON)."""
    try:
        data = zlib.decompress(row[1:]) if row_decided(row) is not None else row
        snapshot = orjson.loads(data)
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise RowError(f"unreadable table row ({len(row)} bytes): {exc}") from None
    if not isinstance(snapshot, dict):
        raise RowError(f"a table row holds {type(snapshot).__name__}, not a session")
    return snapshot


def row_decided(row: bytes) -> bool | None:
    """Whether a row is of a decided session, from its tag; ``None`` for an untagged (plain JSON) row."""
    tag = row[0] if row else None
    return tag == DECIDED if tag in (OPEN, DECIDED) else None
