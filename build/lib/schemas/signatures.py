"""Signed decisions: the verifier signs each decision (Ed25519, as a compact JWS); anyone verifies it offline.

The signature is ``decision["signature"] = {"alg": "EdDSA", "kid", "jws"}``. The JWS
(RFC 7515, EdDSA per RFC 8037) is ``b64url(header) "." b64url(payload) "." b64url(sig)``
where the payload is the decision's own JSON without the ``signature`` field. A consumer
verifies the JWS and reads the payload: nothing is re-serialised, so no canonical JSON
is needed in any language. ``verify_decision`` also requires the plain fields next to
the signature to equal the signed payload (an edited copy fails), and the session id to be
the one the backend asked about (a decision of another session, transplanted, fails).

Keys: ``kid`` is the RFC 7638 thumbprint of the public key, so it names the key and
cannot be chosen to collide. Public keys are published as a JWKS (``public_jwks``); a
rotation publishes the new key next to the old one, then drops the old one once the
decisions it signed no longer need checking.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.errors import LivenessError, SchemaError
from schemas.events import Decision, DecisionSignature

ALG = "EdDSA"
TYP = "liveness-decision"


class SignatureError(LivenessError):
    """A decision's signature is missing, malformed, by an unknown key, or does not match."""

    reason_code = "BAD_SIGNATURE"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"not base64url: {exc}") from None


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256) of an Ed25519 public key."""
    canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{b64url(_raw_public(public_key))}"}}'
    return b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(_raw_public(public_key)),
        "kid": key_id(public_key),
        "alg": ALG,
        "use": "sig",
    }


def public_jwks(public_keys: Iterable[Ed25519PublicKey]) -> dict[str, Any]:
    """The JWKS a backend fetches (``GET /.well-known/jwks.json``) to verify decisions."""
    return {"keys": [public_jwk(key) for key in public_keys]}


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A public key from its raw 32 bytes in base64url (the JWK's ``x``)."""
    raw = b64url_decode(text.strip())
    if len(raw) != 32:
        raise SchemaError("an Ed25519 public key is 32 bytes (base64url)")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_key_from_text(text: str) -> Ed25519PrivateKey:
    """A private key from its raw 32-byte seed in base64url."""
    raw = b64url_decode(text.strip())
    if len(raw) != 32:
        raise SchemaError("an Ed25519 private key is a 32-byte seed (base64url)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def private_key_text(private_key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return b64url(private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


@dataclass(frozen=True)
class DecisionSigner:
    """Signs decisions with one private key (the verifier's). ``repr`` does not show the key."""

    private_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"DecisionSigner(kid={self.kid!r})"

    @property
    def kid(self) -> str:
        return key_id(self.private_key.public_key())

    def sign(self, decision: Decision) -> Decision:
        """``decision`` with its signature over everything else in it."""
        header = orjson.dumps({"alg": ALG, "kid": self.kid, "typ": TYP})
        payload = orjson.dumps(decision.unsigned_dict())
        signing_input = f"{b64url(header)}.{b64url(payload)}"
        signature = b64url(self.private_key.sign(signing_input.encode()))
        jws = f"{signing_input}.{signature}"
        return _replace_signature(decision, DecisionSignature(kid=self.kid, jws=jws))


def _replace_signature(decision: Decision, signature: DecisionSignature) -> Decision:
    import dataclasses

    return dataclasses.replace(decision, signature=signature)


def verify_decision(
    decision: Mapping[str, Any], public_keys: Mapping[str, Ed25519PublicKey], session_id: str
) -> Decision:
    """The signed decision of ``session_id``, or ``SignatureError``.

    ``decision`` is the JSON object as received (from the topic or the gateway);
    ``public_keys`` maps key ids to keys (``keys_from_jwks``). Fails when the signature
    is missing or wrong, the key is unknown, the plain fields differ from the signed
    ones, or the decision is another session's.
    """
    signature = decision.get("signature") if isinstance(decision, Mapping) else None
    if not isinstance(signature, Mapping) or not isinstance(signature.get("jws"), str):
        raise SignatureError("the decision is not signed")
    payload = _verified_payload(signature["jws"], public_keys)
    if payload.get("session_id") != session_id:
        raise SignatureError(f"the signed decision is of another session, not {session_id[:64]!r}")
    unsigned = {key: value for key, value in decision.items() if key != "signature"}
    if unsigned != payload:
        raise SignatureError("the decision's fields differ from the signed ones")
    return Decision.from_dict(payload)


def _verified_payload(jws: str, public_keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    parts = jws.split(".")
    if len(parts) != 3:
        raise SignatureError("a compact JWS has three parts")
    try:
        header = orjson.loads(b64url_decode(parts[0]))
    except orjson.JSONDecodeError:
        raise SignatureError("the JWS header is not JSON") from None
    if not isinstance(header, dict) or header.get("alg") != ALG:
        raise SignatureError(f"the JWS algorithm must be {ALG}")
    public_key = public_keys.get(str(header.get("kid")))
    if public_key is None:
        raise SignatureError(f"unknown signing key {str(header.get('kid'))[:64]!r}")
    try:
        public_key.verify(b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode())
        payload = orjson.loads(b64url_decode(parts[1]))
    except InvalidSignature:
        raise SignatureError("the signature does not match the decision") from None
    except orjson.JSONDecodeError:
        raise SignatureError("the JWS payload is not JSON") from None
    if not isinstance(payload, dict):
        raise SignatureError("the JWS payload is not an object")
    return payload


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Key id -> public key, from a JWKS as ``public_jwks`` publishes it (ids are recomputed, not trusted)."""
    keys = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            public_key = public_key_from_text(jwk["x"])
            keys[key_id(public_key)] = public_key
    return keys
