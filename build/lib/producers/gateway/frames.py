"""The checks every frame of one stream passes before it is published, in arrival order."""

from __future__ import annotations

from processors.errors import CorruptFrameError
from processors.jpeg import jpeg_dimensions
from producers.gateway.errors import (
    NotJpeg,
    RateExceeded,
    Refusal,
    SessionExpired,
    TooManyFrames,
    WrongFrameSize,
)
from producers.gateway.protocol import FrameMessage
from producers.gateway.rate import TokenBucket
from producers.gateway.settings import GatewayLimits
from schemas.events import Challenge, FrameMeta

JPEG_END = b"\xff\xd9"


class FrameGate:
    """One stream's frame checks: count, stream time, rate, sequence, JPEG header and dimensions.

    ``monotonic_ms`` is a monotonic clock for the rate and the stream time;
    ``wall_ms`` is the gateway's wall clock, the capture time of frames that
    carry none. Every refusal is raised before the frame is published.
    """

    def __init__(
        self, session_id: str, challenge: Challenge, limits: GatewayLimits, opened_ms: float
    ) -> None:
        self.session_id, self.challenge, self.limits = session_id, challenge, limits
        self.opened_ms = opened_ms
        self.bucket = TokenBucket(limits.max_fps, limits.burst_frames, opened_ms)
        self.accepted = 0
        self.ended = False

    @property
    def last_seq(self) -> int | None:
        """The seq of the last accepted frame; seqs run 0, 1, 2, ... without gaps."""
        return self.accepted - 1 if self.accepted else None

    def admit(self, message: FrameMessage, monotonic_ms: float, wall_ms: int) -> FrameMeta:
        """The metadata to publish this frame with, or a ``Refusal``."""
        self._check_stream(monotonic_ms)
        if message.seq != self.accepted:
            raise Refusal(f"frame seq {message.seq} where {self.accepted} was expected")
        check_jpeg(message.jpeg, self.challenge)
        self.accepted += 1
        captured_at_ms = wall_ms if message.captured_at_ms is None else message.captured_at_ms
        return FrameMeta(self.session_id, message.seq, captured_at_ms)

    def paused(self, span_ms: float) -> None:
        """The gateway did not read the stream for ``span_ms`` (its own back-pressure).

        Neither the rate nor the stream time counts that span against the
        client: the frames it sent meanwhile arrive together afterwards, and
        the bucket is credited what the span at the rate allows, so they pass
        as they would have had each been read when it was sent.
        """
        self.opened_ms += max(0.0, span_ms)
        self.bucket.credit(span_ms)

    def end(self) -> None:
        if self.ended:
            raise Refusal("the stream has already ended")
        self.ended = True

    def _check_stream(self, monotonic_ms: float) -> None:
        limits = self.limits
        if self.ended:
            raise Refusal("frame after the end of the stream")
        if self.accepted >= limits.max_frames:
            raise TooManyFrames(f"frame limit of {limits.max_frames} per session reached")
        if monotonic_ms - self.opened_ms > limits.max_stream_s * 1000:
            raise SessionExpired(f"stream time of {limits.max_stream_s:g} s is over")
        if not self.bucket.take(monotonic_ms):
            raise RateExceeded(f"frames faster than {limits.max_fps:g} fps")


def check_jpeg(jpeg: bytes, challenge: Challenge) -> None:
    """A complete JPEG whose header declares the challenge's image size; read without decoding pixels."""
    try:
        width, height = jpeg_dimensions(jpeg)
    except CorruptFrameError as exc:
        raise NotJpeg(f"not a JPEG frame: {exc}") from None
    if not jpeg.endswith(JPEG_END):
        raise NotJpeg("not a JPEG frame: missing end-of-image marker (truncated?)")
    if (width, height) != (challenge.image_width, challenge.image_height):
        expected = f"{challenge.image_width}x{challenge.image_height}"
        raise WrongFrameSize(f"frame is {width}x{height}, the challenge is {expected}")
