"""One frame record in, an observation and/or a dead letter out: the processor minus Kafka."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from processors.landmarks import FaceAnalyzer, FrameAnalysis, observation_from
from schemas.codec import parse_frame_headers
from schemas.errors import LivenessError
from schemas.events import DeadLetter, Observation, SourceRef, dead_letter
from schemas.reasons import DeadLetterReason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameResult:
    """An observation for the verifier, a dead letter for operators, or both.

    A frame that cannot be analysed still yields an observation (with ``error``)
    when its session is known, so the verifier counts it instead of waiting.
    ``analysis`` is the analysed frame's full result (None when it could not be analysed):
    the worker keeps its landmarks for the identity stage.
    """

    observation: Observation | None
    dead_letter: DeadLetter | None
    analysis: FrameAnalysis | None = None

    def findings(self) -> tuple[Observation | None, DeadLetter | None]:
        """What the result tells the verifier and operators: the observation without the time
        FaceMesh took (the one thing that differs between two analyses of the same frame
        record), and the dead letter."""
        observation = self.observation and replace(self.observation, inference_ms=0.0)
        return observation, self.dead_letter


def process_frame(
    analyzer: FaceAnalyzer,
    jpeg: bytes | None,
    headers: Iterable[tuple[str, bytes]] | dict[str, bytes] | None,
    received_at_ms: int,
    source: SourceRef,
    now_ms: int,
    decoded: Future[NDArray[np.uint8]] | None = None,
) -> FrameResult:
    """Analyse one frame record; never raises for bad input.

    ``decoded``: the frame being decoded elsewhere (``analyzer.decode``), for a caller that
    decodes the next frame while FaceMesh runs on this one; its errors count as the decode's.
    """
    try:
        meta = parse_frame_headers(headers)
    except LivenessError as exc:
        if decoded is not None:
            decoded.cancel()  # a frame refused for its headers is never looked at
        return FrameResult(None, dead_letter(exc.reason_code, str(exc), source, jpeg, None, now_ms))
    try:
        if decoded is None:
            analysis = analyzer.analyse_jpeg(jpeg or b"")
        else:
            analysis = analyzer.analyse_decoded(decoded.result())
    except LivenessError as exc:
        reason, detail = exc.reason_code, str(exc)
    except Exception as exc:  # a model failure on one frame must not stop the worker
        log.exception("analysis failed for session %s seq %s", meta.session_id, meta.seq)
        reason, detail = DeadLetterReason.INTERNAL_ERROR.value, repr(exc)
    else:
        return FrameResult(observation_from(analysis, meta, received_at_ms, source.offset), None, analysis)
    failed = Observation(
        meta.session_id,
        meta.seq,
        meta.captured_at_ms,
        received_at_ms,
        1,
        1,
        (),
        error=reason,
        frame_offset=source.offset,
    )
    return FrameResult(failed, dead_letter(reason, detail, source, jpeg, meta.session_id, now_ms))


LOG_APPEND_TIME = 1  # Kafka's record timestamp type: 0 CreateTime (the producer's), 1 LogAppendTime


def server_time_refusal(
    timestamp_type: int, jpeg: bytes | None, source: SourceRef, now_ms: int
) -> DeadLetter | None:
    """A dead letter for a frame not stamped by the broker; ``None`` for a LogAppendTime frame.

    Every deadline is judged on the frame's record timestamp. With CreateTime that is the
    producer's clock (a topic created or altered without ``LogAppendTime``), which a client
    could set: the frame is refused rather than judged on a time the client chose.
    """
    if timestamp_type == LOG_APPEND_TIME:
        return None
    detail = (
        f"record timestamp type {timestamp_type} is not LogAppendTime: "
        "set message.timestamp.type=LogAppendTime on the frames topic (liveness topics checks it)"
    )
    return dead_letter(DeadLetterReason.CLIENT_TIMESTAMP.value, detail, source, jpeg, None, now_ms)


def analyse_batch(
    analyzer: FaceAnalyzer,
    items: list[tuple[bytes | None, Iterable[tuple[str, bytes]] | dict[str, bytes] | None, int, SourceRef]],
    now_ms: int,
    decoder: Executor | None = None,
) -> list[FrameResult]:
    """``process_frame`` over ``(jpeg, headers, received_at_ms, source)`` items, in order.

    With a ``decoder`` (a thread of its own), the next frame is decoded there while FaceMesh runs
    on this one: on a backlog the decode takes the other core instead of the inference thread's
    time. One frame ahead at most, so a batch of the largest frames allowed holds at most two
    decoded images. The first frame is decoded here, so a lone frame at camera pace pays no
    hand-over between threads. A decoder that no longer takes work (shut down) leaves each
    frame to be decoded here.
    """
    results = []
    upcoming: Future[NDArray[np.uint8]] | None = None
    for index, (jpeg, headers, received, source) in enumerate(items):
        decoded, upcoming = upcoming, None
        if decoder is not None and index + 1 < len(items):
            upcoming = _decode_ahead(decoder, analyzer, items[index + 1][0])
        results.append(process_frame(analyzer, jpeg, headers, received, source, now_ms, decoded))
    return results


def _decode_ahead(
    decoder: Executor, analyzer: FaceAnalyzer, jpeg: bytes | None
) -> Future[NDArray[np.uint8]] | None:
    try:
        return decoder.submit(analyzer.decode, jpeg or b"")
    except RuntimeError:  # the executor was shut down (the worker is stopping)
        return None
