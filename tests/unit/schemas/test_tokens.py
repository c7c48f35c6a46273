"""Session tokens: bound to the session, the exact challenge and the expiry; keys rotate with grace."""

from __future__ import annotations

import base64
import dataclasses

import orjson
import pytest

from schemas.codec import decode_session_event, encode
from schemas.events import Box, Challenge, SessionStarted
from schemas.tokens import TokenError, TokenKeys, challenge_digest, issue_token, verify_token

SECRET = b"current-secret-of-32-bytes-long!"
OLD_SECRET = b"previous-secret-32-bytes-long!!!"
SESSION = "5f0c6e1d2b3a49788796a5b4c3d2e1f0"
NOW_MS = 1_700_000_000_000
EXPIRES_MS = NOW_MS + 180_000
AREA = Box(185, 60, 270, 360)
CHALLENGE = Challenge("nose", 640, 480, AREA, nose=Box(371.25, 254.5, 20, 20))
KEYS = TokenKeys(SECRET)


def _token(keys: TokenKeys = KEYS, challenge: Challenge = CHALLENGE, expires_ms: int = EXPIRES_MS) -> str:
    return issue_token(keys, SESSION, challenge, expires_ms)


def test_verify_token_valid_returns_expiry() -> None:
    assert verify_token(KEYS, _token(), SESSION, CHALLENGE, NOW_MS) == EXPIRES_MS


def test_verify_token_at_exact_expiry_accepted_one_ms_later_rejected() -> None:
    token = _token()

    assert verify_token(KEYS, token, SESSION, CHALLENGE, EXPIRES_MS) == EXPIRES_MS
    with pytest.raises(TokenError, match="expired"):
        verify_token(KEYS, token, SESSION, CHALLENGE, EXPIRES_MS + 1)


def _moved(dx: float = 0.0, dy: float = 0.0) -> Challenge:
    assert CHALLENGE.nose is not None
    nose = dataclasses.replace(CHALLENGE.nose, left=CHALLENGE.nose.left + dx, top=CHALLENGE.nose.top + dy)
    return dataclasses.replace(CHALLENGE, nose=nose)


CHANGED_CHALLENGES = {
    "nose-box-1px-right": _moved(dx=1),
    "nose-box-1px-up": _moved(dy=-1),
    "nose-box-bigger": dataclasses.replace(CHALLENGE, nose=Box(371.25, 254.5, 21, 20)),
    "other-type-turn": Challenge("turn", 640, 480, AREA, sequence=("left", "right")),
    "other-type-blink": Challenge("blink", 640, 480, AREA, blinks=1),
    "other-image-size": dataclasses.replace(CHALLENGE, image_width=1280),
    "other-area": dataclasses.replace(CHALLENGE, area=Box(185, 60, 270, 361)),
}


@pytest.mark.parametrize("changed", CHANGED_CHALLENGES.values(), ids=CHANGED_CHALLENGES.keys())
def test_verify_token_changed_challenge_raises_token_error(changed: Challenge) -> None:
    with pytest.raises(TokenError, match="challenge"):
        verify_token(KEYS, _token(), SESSION, changed, NOW_MS)


def test_verify_token_turn_sequence_swapped_raises_token_error() -> None:
    turn = Challenge("turn", 640, 480, AREA, sequence=("left", "right"))
    token = _token(challenge=turn)

    with pytest.raises(TokenError):
        verify_token(KEYS, token, SESSION, dataclasses.replace(turn, sequence=("right", "left")), NOW_MS)


def test_verify_token_wrong_secret_raises_token_error() -> None:
    forged = _token(keys=TokenKeys(b"attacker-guess-of-the-secret-32b"))

    with pytest.raises(TokenError, match="signature"):
        verify_token(KEYS, forged, SESSION, CHALLENGE, NOW_MS)


def test_verify_token_other_session_raises_token_error() -> None:
    with pytest.raises(TokenError, match="session"):
        verify_token(KEYS, _token(), "another-session", CHALLENGE, NOW_MS)


def test_verify_token_past_expiry_raises_token_error() -> None:
    token = _token(expires_ms=NOW_MS - 1)

    with pytest.raises(TokenError, match="expired"):
        verify_token(KEYS, token, SESSION, CHALLENGE, NOW_MS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _resigned_claims(**claims: object) -> str:
    """A token whose payload was edited after signing, keeping the original signature."""
    payload_text, signature_text = _token().split(".")
    return f"{_b64(orjson.dumps(claims))}.{signature_text}"


MALFORMED = {
    "empty": "",
    "no-dot": "abcdef",
    "three-parts": "a.b.c",
    "dot-only": ".",
    "not-base64": "!!!.???",
    "bad-padding-length": "a.b",
    "non-ascii": "é.é",
    "payload-not-json": f"{_b64(b'not json')}.{_b64(b'x' * 32)}",
    "payload-json-list": f"{_b64(b'[1, 2]')}.{_b64(b'x' * 32)}",
    "signature-truncated": _token()[:-4],
    "signature-missing": _token().split(".")[0] + ".",
    "payload-edited-expiry": _resigned_claims(sid=SESSION, ch=challenge_digest(CHALLENGE), exp=2**53),
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
def test_verify_token_malformed_raises_token_error(token: str) -> None:
    with pytest.raises(TokenError):
        verify_token(KEYS, token, SESSION, CHALLENGE, NOW_MS)


def test_token_error_carries_bad_token_reason_code() -> None:
    assert TokenError.reason_code == "BAD_TOKEN"


# ---- rotation -----------------------------------------------------------------------------------

GRACE_END_MS = NOW_MS + 60_000
ROTATED = TokenKeys(SECRET, previous=OLD_SECRET, previous_valid_until_ms=GRACE_END_MS)
OLD_TOKEN = issue_token(TokenKeys(OLD_SECRET), SESSION, CHALLENGE, EXPIRES_MS)


@pytest.mark.parametrize(
    ("now_ms", "accepted"),
    [(NOW_MS, True), (GRACE_END_MS, True), (GRACE_END_MS + 1, False), (EXPIRES_MS, False)],
    ids=["in-grace", "grace-end", "after-grace", "long-after"],
)
def test_verify_token_previous_secret_accepted_only_during_grace(now_ms: int, accepted: bool) -> None:
    if accepted:
        assert verify_token(ROTATED, OLD_TOKEN, SESSION, CHALLENGE, now_ms) == EXPIRES_MS
    else:
        with pytest.raises(TokenError, match="signature"):
            verify_token(ROTATED, OLD_TOKEN, SESSION, CHALLENGE, now_ms)


def test_issue_token_after_rotation_signs_with_current_secret() -> None:
    token = _token(keys=ROTATED)

    assert verify_token(KEYS, token, SESSION, CHALLENGE, GRACE_END_MS + 1) == EXPIRES_MS
    with pytest.raises(TokenError):
        verify_token(TokenKeys(OLD_SECRET), token, SESSION, CHALLENGE, NOW_MS)


def test_verify_token_previous_secret_without_rotation_raises_token_error() -> None:
    with pytest.raises(TokenError):
        verify_token(KEYS, OLD_TOKEN, SESSION, CHALLENGE, NOW_MS)


def test_token_keys_short_secret_raises_value_error() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        TokenKeys(b"short")


def test_token_keys_repr_hides_secrets() -> None:
    text = repr(ROTATED) + str(ROTATED)

    assert SECRET.decode() not in text
    assert OLD_SECRET.decode() not in text


def test_challenge_digest_ignores_key_order_and_changes_with_any_field() -> None:
    digests = {challenge_digest(challenge) for challenge in [CHALLENGE, *CHANGED_CHALLENGES.values()]}

    assert challenge_digest(Challenge.from_dict(CHALLENGE.to_dict())) == challenge_digest(CHALLENGE)
    assert len(digests) == 1 + len(CHANGED_CHALLENGES)


def test_verify_token_challenge_with_integer_box_verifies_after_wire_round_trip() -> None:
    # CHALLENGE's boxes hold ints; on the wire they come back as floats.
    started = SessionStarted(SESSION, CHALLENGE, NOW_MS, EXPIRES_MS, _token())

    received = decode_session_event(encode(started))

    assert verify_token(KEYS, received.token, SESSION, received.challenge, NOW_MS) == EXPIRES_MS
