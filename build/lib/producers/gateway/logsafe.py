"""Request-derived text made safe to log: control characters escaped, so a client cannot forge log lines.

A path such as ``/sessions/x%0A<text>/stream`` decodes to a newline; logged as
is, ``<text>`` would read as a line of its own, at column 0, in a text log.
Everything the gateway logs passes through ``EscapeControlCharacters`` on its
loggers (and aiohttp's), so no call site has to remember.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators some viewers break lines at.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def loggable(text: object) -> str:
    """``text`` with every control character written as a visible escape (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class EscapeControlCharacters(logging.Filter):
    """Logger filter: the formatted message (and a bound session id) of each record escaped by ``loggable``.

    Tracebacks are left alone: they are the gateway's own text, and multi-line by nature.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = loggable(message)
        if escaped != message:
            record.msg, record.args = escaped, None
        session_id = getattr(record, "session_id", None)
        if session_id is not None:
            record.session_id = loggable(session_id)
        return True


# aiohttp logs request lines and errors with request text in them; the gateway's own modules the rest.
GATEWAY_LOGGERS = (
    "producers.gateway",
    "producers.gateway.server",
    "producers.gateway.feeds",
    "aiohttp.access",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)


def install(logger_names: tuple[str, ...] = GATEWAY_LOGGERS) -> None:
    """Put one ``EscapeControlCharacters`` on each logger (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
            logger.addFilter(EscapeControlCharacters())
