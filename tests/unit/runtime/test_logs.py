"""Structured logs: JSON lines, the bound session id on every line of a session, across a thread pool too."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from runtime import logs


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines to a buffer through the module's filter and formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.SessionFilter())
    logger = logging.getLogger(f"test-logs-{id(stream)}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def log_in_thread(logger: logging.Logger) -> None:
    logger.warning("from the inference thread")


def test_json_formatter_bound_session_on_every_line_until_scope_ends(captured) -> None:
    logger, stream = captured
    with logs.session_scope(b"abc123"):
        logger.info("frame %d", 7, extra={"seq": 7})
        try:
            raise ValueError("bad frame")
        except ValueError:
            logger.exception("analysis failed")
    logger.info("no session")
    first, second, third = lines(stream)
    assert first == {**first, "message": "frame 7", "session_id": "abc123", "seq": 7, "level": "INFO"}
    assert second["session_id"] == "abc123" and "ValueError: bad frame" in second["exc"]
    assert "session_id" not in third
    assert first["ts"].endswith("+00:00")


def test_in_context_thread_pool_keeps_the_session_id(captured) -> None:
    logger, stream = captured
    with logs.session_scope("s-thread"), ThreadPoolExecutor(1) as pool:
        pool.submit(logs.in_context(log_in_thread), logger).result()
        pool.submit(log_in_thread, logger).result()  # without the wrapper the thread has no session
    with_context, without = lines(stream)
    assert with_context["session_id"] == "s-thread"
    assert "session_id" not in without


def test_logging_config_text_format_shows_dash_without_session() -> None:
    config = logs.logging_config("INFO", "text")
    formatter = config["formatters"]["default"]["()"]()
    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "x", "session_id": None})
    assert formatter.format(record).endswith("INFO x [session=-] hello")


def test_logging_config_unknown_format_refused() -> None:
    with pytest.raises(ValueError, match="json or text"):
        logs.logging_config("INFO", "yaml")


def test_logging_config_is_accepted_by_dictconfig_and_writes_stderr(capsys) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logging.config.dictConfig(logs.logging_config("INFO", "json"))
        with logs.session_scope("s-root"):
            logging.getLogger("liveness.test").info("configured")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    line = orjson.loads(capsys.readouterr().err.splitlines()[-1])
    assert line["message"] == "configured" and line["session_id"] == "s-root"
