"""Structured logs: one JSON object per line, with the session id on every line that concerns a session.

An adapter calls ``bind_session`` when it takes a record; every log line of
that task from then on carries ``session_id`` without each call site passing
it. A thread pool does not inherit the caller's context, so work handed to one
is wrapped with ``in_context``. Messages are the caller's text: secrets must not
be put in them (the settings records already hide theirs in ``repr``).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import logging.config
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import orjson

P = ParamSpec("P")
R = TypeVar("R")

SESSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("liveness_session_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "session_id"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [session=%(session_id)s] %(message)s"


def _as_text(session_id: str | bytes | None) -> str | None:
    if isinstance(session_id, bytes):
        session_id = session_id.decode("utf-8", "replace")
    return session_id or None


def bind_session(session_id: str | bytes | None) -> None:
    """Tag the following log lines of the current task with ``session_id`` (a record key is fine)."""
    SESSION_ID.set(_as_text(session_id))


@contextmanager
def session_scope(session_id: str | bytes | None) -> Iterator[None]:
    """Tag log lines with ``session_id`` inside the block only."""
    token = SESSION_ID.set(_as_text(session_id))
    try:
        yield
    finally:
        SESSION_ID.reset(token)


def in_context(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` to run in another thread with a copy of the caller's context (its session id)."""
    return functools.partial(contextvars.copy_context().run, function)


class SessionFilter(logging.Filter):
    """Puts the bound session id on each record, unless the call passed ``extra={"session_id": ...}``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "session_id", None) is None:
            record.session_id = SESSION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "session_id"?, "exc"?, **extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        session_id = getattr(record, "session_id", None)
        if session_id is not None:
            entry["session_id"] = session_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RECORD_FIELDS})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=repr).decode()


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` for a terminal; ``-`` where no session is bound."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        session_id = getattr(record, "session_id", None) or "-"
        return super().format(logging.makeLogRecord({**record.__dict__, "session_id": session_id}))


def logging_config(level: str = "WARNING", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: every logger to stderr, as JSON (``fmt="json"``) or text."""
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    formatter = {"()": JsonFormatter if fmt == "json" else TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"session": {"()": SessionFilter}},
        "formatters": {"default": formatter},
        # stderr: Faust redirects stdout into logging, and a handler writing there would loop.
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["session"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }


def configure_logging(level: str = "WARNING", fmt: str = "json") -> None:
    """Set up logging for a process that is not a Faust worker (gateway, analytics commands)."""
    logging.config.dictConfig(logging_config(level, fmt))
