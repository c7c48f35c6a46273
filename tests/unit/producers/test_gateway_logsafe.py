"""Request text in log lines: control characters escaped, nothing else changed."""

from __future__ import annotations

import logging

import pytest

from producers.gateway.logsafe import EscapeControlCharacters, loggable


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("plain /sessions/abc/stream", "plain /sessions/abc/stream"),
        ("x\nFORGED line", "x\\nFORGED line"),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[2J", "\\x1b[2J"),
        ("tab\there", "tab\\there"),
        ("line\u2028sep", "line\\u2028sep"),
        ("c1\x85", "c1\\x85"),
        ("über ✓", "über ✓"),
    ],
)
def test_loggable_escapes_control_characters_only(text: str, logged: str) -> None:
    assert loggable(text) == logged


def test_escape_filter_escapes_the_formatted_message_and_the_session_id() -> None:
    record = logging.makeLogRecord(
        {"msg": "refused: %s (%d)", "args": ("x\nFORGED", 4404), "session_id": "x\nFORGED"}
    )
    assert EscapeControlCharacters().filter(record)
    assert record.getMessage() == "refused: x\\nFORGED (4404)"
    assert record.session_id == "x\\nFORGED"  # type: ignore[attr-defined]


def test_escape_filter_leaves_a_clean_record_as_it_was() -> None:
    record = logging.makeLogRecord({"msg": "%s%%", "args": ("100",)})
    EscapeControlCharacters().filter(record)
    assert (record.msg, record.args, record.getMessage()) == ("%s%%", ("100",), "100%")
