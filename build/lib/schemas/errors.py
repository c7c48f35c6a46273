"""Errors raised while reading events; each carries a stable reason code for dead letters."""

from __future__ import annotations


class LivenessError(Exception):
    """Root of every error raised by liveness-stream itself."""

    reason_code = "ERROR"


class SchemaError(LivenessError):
    """An event could not be decoded: bad JSON, wrong version, missing or invalid fields."""

    reason_code = "BAD_EVENT"


class UnsupportedVersionError(SchemaError):
    """An event declares a schema version this build does not read."""

    reason_code = "UNSUPPORTED_VERSION"
