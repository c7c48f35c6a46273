"""Errors of the processors: an input frame that cannot be analysed goes to the dead letters.

LivenessError (schemas.errors)
├── CorruptFrameError    CORRUPT_FRAME    not a JPEG, malformed, truncated, undecodable
└── FrameTooLargeError   FRAME_TOO_LARGE  too many bytes or pixels (refused before decoding)
"""

from __future__ import annotations

from schemas.errors import LivenessError
from schemas.reasons import DeadLetterReason


class CorruptFrameError(LivenessError):
    """The frame is not a complete, decodable JPEG."""

    reason_code = "CORRUPT_FRAME"


class FrameTooLargeError(LivenessError):
    """The frame exceeds the byte or pixel limits; refused before any pixel is allocated."""

    reason_code = DeadLetterReason.FRAME_TOO_LARGE
