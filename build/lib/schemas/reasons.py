"""The closed set of decision reason codes and dead-letter reason codes.

Analysts group decisions by these codes, so a code is never renamed or reused;
new codes are only added, together with a schema version note in the README.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a session passed or failed. ``PASSED`` is the only code of a pass."""

    PASSED = "PASSED"
    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    FACE_OUT_OF_AREA = "FACE_OUT_OF_AREA"
    FACE_TOO_SMALL = "FACE_TOO_SMALL"
    TIMEOUT = "TIMEOUT"
    NO_ROTATION = "NO_ROTATION"
    WRONG_DIRECTION = "WRONG_DIRECTION"
    PLANAR_MOTION = "PLANAR_MOTION"
    TRAJECTORY_IRREGULAR = "TRAJECTORY_IRREGULAR"
    DISCONTINUITY = "DISCONTINUITY"
    NO_BLINK = "NO_BLINK"
    CLOCK_SKEW = "CLOCK_SKEW"
    SEQUENCE_GAP = "SEQUENCE_GAP"
    EXPIRED = "EXPIRED"
    BAD_TOKEN = "BAD_TOKEN"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    ENDED_BY_CLIENT = "ENDED_BY_CLIENT"
    IDENTITY_CHANGED = "IDENTITY_CHANGED"


class DeadLetterReason(StrEnum):
    """Why an input could not be processed at all (it never reaches a decision)."""

    CORRUPT_FRAME = "CORRUPT_FRAME"
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"
    BAD_EVENT = "BAD_EVENT"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # A frame whose record timestamp is the producer's (CreateTime), not the broker's: deadlines
    # are judged on the broker's LogAppendTime, so such a frame is never judged (added within v1).
    CLIENT_TIMESTAMP = "CLIENT_TIMESTAMP"
