"""Signed, expiring session tokens: HMAC-SHA256 over the session id, the challenge and the expiry.

The token binds a session to the exact challenge the server drew, so a client
cannot swap in an easier target or a different challenge type, and it stops
working at its expiry. Keys rotate: new tokens are signed with the current
secret, and tokens signed with the previous one are accepted until the grace
period ends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from schemas.errors import LivenessError
from schemas.events import Challenge


class TokenError(LivenessError):
    """The token is malformed, forged, for another session or challenge, or expired."""

    reason_code = "BAD_TOKEN"


@dataclass(frozen=True)
class TokenKeys:
    """The signing secret and, during a rotation, the previous one with its end of grace."""

    current: bytes
    previous: bytes | None = None
    previous_valid_until_ms: int = 0

    def __post_init__(self) -> None:
        if len(self.current) < 16:
            raise ValueError("the token secret must be at least 16 bytes")

    def __repr__(self) -> str:  # secrets never reach logs
        return f"TokenKeys(previous={'set' if self.previous else 'unset'})"

    def accepted(self, now_ms: int) -> tuple[bytes, ...]:
        if self.previous and now_ms <= self.previous_valid_until_ms:
            return (self.current, self.previous)
        return (self.current,)


def challenge_digest(challenge: Challenge) -> str:
    """A stable digest of the challenge (sorted-key JSON), so any change to it breaks the token."""
    canonical = orjson.dumps(challenge.to_dict(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def issue_token(keys: TokenKeys, session_id: str, challenge: Challenge, expires_at_ms: int) -> str:
    """A token for this session, this challenge, valid until ``expires_at_ms`` (server clock)."""
    payload = orjson.dumps({"sid": session_id, "ch": challenge_digest(challenge), "exp": expires_at_ms})
    return f"{_b64(payload)}.{_b64(_sign(keys.current, payload))}"


def _signed_claims(keys: TokenKeys, token: str, now_ms: int) -> object:
    try:
        payload_text, signature_text = token.split(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
        claims = orjson.loads(payload)
    except (ValueError, orjson.JSONDecodeError):
        raise TokenError("malformed token") from None
    if not any(hmac.compare_digest(_sign(key, payload), signature) for key in keys.accepted(now_ms)):
        raise TokenError("bad signature")
    return claims


def signed_expiry(keys: TokenKeys, token: str, session_id: str, now_ms: int) -> int | None:
    """The expiry an authentic token of ``session_id`` carries, else ``None``; the challenge is not checked.

    Enough to tell the token's holder that the session expired once nothing
    else about the session is remembered.
    """
    try:
        claims = _signed_claims(keys, token, now_ms)
    except TokenError:
        return None
    if not isinstance(claims, dict) or claims.get("sid") != session_id:
        return None
    expires_at_ms = claims.get("exp")
    return expires_at_ms if isinstance(expires_at_ms, int) else None


def verify_token(keys: TokenKeys, token: str, session_id: str, challenge: Challenge, now_ms: int) -> int:
    """Check a token against the session and challenge; return its expiry or raise ``TokenError``."""
    claims = _signed_claims(keys, token, now_ms)
    if not isinstance(claims, dict) or claims.get("sid") != session_id:
        raise TokenError("token is for another session")
    if claims.get("ch") != challenge_digest(challenge):
        raise TokenError("token is for another challenge")
    expires_at_ms = claims.get("exp")
    if not isinstance(expires_at_ms, int) or now_ms > expires_at_ms:
        raise TokenError("token expired")
    return expires_at_ms
