"""The processor refuses frames stamped by the producer (CreateTime) instead of judging them."""

from __future__ import annotations

from processors.pipeline import LOG_APPEND_TIME, server_time_refusal
from schemas.events import SourceRef

SOURCE = SourceRef("liveness.frames", 0, 42)


def test_server_time_refusal_create_time_frame_is_dead_lettered() -> None:
    letter = server_time_refusal(0, b"\xff\xd8jpeg", SOURCE, 1_000)
    assert letter is not None
    assert letter.reason == "CLIENT_TIMESTAMP" and letter.source_offset == 42
    assert "LogAppendTime" in letter.detail


def test_server_time_refusal_log_append_time_frame_passes() -> None:
    assert server_time_refusal(LOG_APPEND_TIME, b"\xff\xd8jpeg", SOURCE, 1_000) is None
