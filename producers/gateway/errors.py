"""Why the gateway refuses a request or a stream; each refusal carries its WebSocket close code.

LivenessError (schemas.errors)
└── Refusal                  4400  a message the gateway cannot read
    ├── BadToken             4401  the token is malformed, forged, or for another session or challenge
    ├── UnknownSession       4404  this gateway process did not create the session
    ├── IdleStream           4408  no message for too long
    ├── AlreadyStreamed      4409  the session's one stream was already opened
    ├── SessionExpired       4410  the session's start window (or its stream time) is over
    ├── FrameTooLarge        4413  a frame over the byte limit
    ├── NotJpeg              4415  the frame is not a JPEG
    ├── WrongFrameSize       4422  the JPEG's dimensions are not the challenge's image size
    ├── RateExceeded         4429  frames faster than the rate limit (burst included)
    ├── TooManyFrames        4429  more frames than a session may send
    ├── TooManyStreams       4429  this client address has its share of the process's streams open
    ├── GatewayBusy          1013  too many concurrent streams, or Kafka not connected yet
    └── Unavailable          1011  a frame or an event could not be published to Kafka
└── RegistryFull             (HTTP 503) every remembered session is live: no room for a new one

Close codes 4000 + an HTTP status read the same way as that status; 1013 and
1011 are the WebSocket protocol's own "try again later" and "server error".
"""

from __future__ import annotations

from schemas.errors import LivenessError
from schemas.reasons import DeadLetterReason

# RFC 6455 limits a close frame's reason to 123 bytes of UTF-8.
MAX_CLOSE_REASON_BYTES = 123


class Refusal(LivenessError):
    """The gateway refuses this input; the stream closes with ``close_code`` and the message as reason."""

    reason_code = "BAD_MESSAGE"
    close_code = 4400

    @property
    def close_reason(self) -> str:
        """The message, cut to what fits a WebSocket close frame."""
        encoded = str(self).encode()[:MAX_CLOSE_REASON_BYTES]
        return encoded.decode(errors="ignore")


class BadToken(Refusal):
    reason_code = "BAD_TOKEN"
    close_code = 4401


class UnknownSession(Refusal):
    reason_code = "UNKNOWN_SESSION"
    close_code = 4404


class IdleStream(Refusal):
    reason_code = "IDLE"
    close_code = 4408


class AlreadyStreamed(Refusal):
    reason_code = "ALREADY_STREAMED"
    close_code = 4409


class SessionExpired(Refusal):
    reason_code = "EXPIRED"
    close_code = 4410


class FrameTooLarge(Refusal):
    # The code the processor gives a frame over its own limit: one name for one refusal.
    reason_code = DeadLetterReason.FRAME_TOO_LARGE
    close_code = 4413


class NotJpeg(Refusal):
    reason_code = "NOT_JPEG"
    close_code = 4415


class WrongFrameSize(Refusal):
    reason_code = "WRONG_FRAME_SIZE"
    close_code = 4422


class RateExceeded(Refusal):
    reason_code = "RATE_EXCEEDED"
    close_code = 4429


class TooManyFrames(Refusal):
    reason_code = "TOO_MANY_FRAMES"
    close_code = 4429


class TooManyStreams(Refusal):
    reason_code = "TOO_MANY_STREAMS"
    close_code = 4429


class GatewayBusy(Refusal):
    reason_code = "BUSY"
    close_code = 1013


class Unavailable(Refusal):
    reason_code = "UNAVAILABLE"
    close_code = 1011


class RegistryFull(LivenessError):
    """Every session the process remembers is still live; a new one is refused rather than one forgotten."""
