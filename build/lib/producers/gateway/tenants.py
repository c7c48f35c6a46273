"""Tenants and their API keys: who may create sessions and read their results (plain values, no I/O).

A tenant is an onboarding platform's backend. It authenticates server to server
with an API key in ``Authorization: Bearer <key>``. Keys are stored only as
SHA-256 digests: a key is 32 random bytes, so a digest cannot be reversed by
guessing, and a leaked tenants file does not hand out working keys. Rotation
is an overlap window: the new key is added, the old one gets a ``not_after_ms``
and stops working then, without a restart in between for the backend to switch.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from schemas.errors import SchemaError

KEY_PREFIX = "lk_"  # makes a leaked key recognisable to secret scanners
DEMO_TENANT = "demo"  # the public demo's sessions (only with the gateway's demo flag)
USER_REF_DOMAIN = b"liveness-stream:user-ref:v1\x00"


def new_api_key() -> str:
    """A fresh API key (256 bits of randomness)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(api_key: str) -> str:
    """The stored form of a key: its SHA-256, hex."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def user_ref_digest(tenant_id: str, user_ref: str) -> str:
    """The backend's user reference as it appears in events and decisions: SHA-256 under the tenant.

    A pseudonym, not anonymisation: whoever knows a reference can compute its digest, so
    backends pass an opaque id (not an e-mail address). The tenant is part of the input,
    so two tenants' users never share a digest, and attempts never count across tenants.
    """
    return hashlib.sha256(USER_REF_DOMAIN + tenant_id.encode() + b"\x00" + user_ref.encode()).hexdigest()


@dataclass(frozen=True)
class StoredKey:
    """One API key of a tenant, by digest; ``not_after_ms`` ends a rotated-out key's overlap window."""

    sha256: str
    not_after_ms: int | None = None

    def valid_at(self, now_ms: int) -> bool:
        return self.not_after_ms is None or now_ms <= self.not_after_ms


@dataclass(frozen=True)
class Tenant:
    """A platform: its id (in every event of its sessions), its keys, the origins its page is served from."""

    tenant_id: str
    keys: tuple[StoredKey, ...]
    cors_origins: tuple[str, ...] = ()

    def allows_origin(self, origin: str | None) -> bool:
        return origin is not None and origin in self.cors_origins


class TenantDirectory:
    """Every tenant, and the lookup of a presented key (constant-time on the digest)."""

    def __init__(self, tenants: Sequence[Tenant]) -> None:
        self.tenants = {tenant.tenant_id: tenant for tenant in tenants}
        if len(self.tenants) != len(tenants):
            raise SchemaError("tenant ids must be unique")
        if DEMO_TENANT in self.tenants:
            raise SchemaError(f"tenant id {DEMO_TENANT!r} is reserved for the demo mode")

    def __len__(self) -> int:
        return len(self.tenants)

    def authenticate(self, authorization: str | None, now_ms: int) -> Tenant | None:
        """The tenant whose valid key is in this ``Authorization`` header value, else ``None``."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        digest = key_digest(authorization[len("Bearer ") :].strip())
        found = None
        for tenant in self.tenants.values():  # no early exit: the time does not depend on the match
            for key in tenant.keys:
                if hmac.compare_digest(key.sha256, digest) and key.valid_at(now_ms):
                    found = tenant
        return found

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether any tenant lists ``origin`` (a CORS preflight does not carry the key)."""
        return any(tenant.allows_origin(origin) for tenant in self.tenants.values())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantDirectory:
        """From ``{"tenants": [{"id", "keys": [{"sha256", "not_after_ms"?}], "cors_origins"?}]}``."""
        entries = data.get("tenants") if isinstance(data, Mapping) else None
        if not isinstance(entries, list):
            raise SchemaError("the tenants file needs a list under 'tenants'")
        return cls([_tenant(entry) for entry in entries])


def _tenant(entry: Any) -> Tenant:
    if not isinstance(entry, Mapping):
        raise SchemaError("each tenant must be an object")
    tenant_id = entry.get("id")
    if not isinstance(tenant_id, str) or not tenant_id.isascii() or not 1 <= len(tenant_id) <= 64:
        raise SchemaError(f"tenant id must be 1-64 ASCII characters: {tenant_id!r}")
    keys = tuple(_stored_key(tenant_id, key) for key in entry.get("keys") or ())
    if not keys:
        raise SchemaError(f"tenant {tenant_id!r} has no key")
    origins = tuple(_origin(tenant_id, origin) for origin in entry.get("cors_origins") or ())
    return Tenant(tenant_id, keys, origins)


def _stored_key(tenant_id: str, key: Any) -> StoredKey:
    digest = key.get("sha256") if isinstance(key, Mapping) else None
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise SchemaError(f"tenant {tenant_id!r}: a key is a lowercase hex SHA-256 under 'sha256'")
    not_after_ms = key.get("not_after_ms")
    if not_after_ms is not None and (isinstance(not_after_ms, bool) or not isinstance(not_after_ms, int)):
        raise SchemaError(f"tenant {tenant_id!r}: not_after_ms must be an integer")
    return StoredKey(digest, not_after_ms)


def _origin(tenant_id: str, origin: Any) -> str:
    """An exact origin (scheme://host[:port]); a wildcard or a path is refused."""
    parts = urlsplit(origin) if isinstance(origin, str) else None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.netloc
        or "*" in origin
        or parts.path not in ("",)
        or parts.query
        or parts.fragment
    ):
        raise SchemaError(
            f"tenant {tenant_id!r}: CORS origin must be an exact scheme://host[:port]: {origin!r}"
        )
    return origin
