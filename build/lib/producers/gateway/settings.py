"""The gateway's limits and settings: frozen values passed inward from the CLI or a test."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from producers.gateway.attempts import AttemptPolicy
from producers.gateway.tenants import TenantDirectory

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class GatewayLimits:
    """Every limit the gateway holds a client to. Defaults follow the verifier's own limits."""

    # A 640x480 JPEG at quality 0.8 is 30-80 KB; 512 KB leaves room for a 1280x960 frame
    # and stays well under Kafka's 1 MB default message size.
    max_frame_bytes: int = 512 * 1024
    max_fps: float = 15.0
    burst_frames: int = 5  # timer jitter in a browser; a flood empties it within a few frames
    max_frames: int = 300  # the verifier's own max_frames: more could never be judged
    max_stream_s: float = 45.0  # the verifier gives up at 30 s of frames; the margin is for slow starts
    idle_timeout_s: float = 15.0  # the verifier settles a silent session after the same time
    # After the client's end, how long the stream waits for the decision; the verifier
    # decides within seconds once the observations are in.
    end_wait_s: float = 30.0
    # WebSocket pings find dead connections; they never keep a stream open (idle and
    # end wait count only the client's own messages).
    heartbeat_s: float = 20.0
    min_image_side: int = 120
    max_image_side: int = 1280
    max_header_bytes: int = 256  # the optional JSON header of a frame message
    max_body_bytes: int = 4 * 1024  # POST /sessions carries two integers
    max_streams: int = 200  # concurrent WebSocket streams per gateway process
    # One person streams one session at a time; the margin is for people behind one NAT.
    # With it, a single client cannot hold more than 1/20 of a process's slots.
    max_streams_per_address: int = 10
    # Created sessions kept until they expire (180 s); a full registry refuses new sessions
    # (503) rather than forget a live one. 10,000 covers the global creation rate below.
    max_sessions: int = 10_000
    # Session creation, per client address: a person retrying now and then, a NAT of a few.
    sessions_per_address_per_s: float = 0.5
    session_burst_per_address: int = 10
    # Session creation, all clients: 50/s for the 180 s start window is 9,000 < max_sessions,
    # so the registry fills only if clients are pooled behind many addresses at once.
    sessions_per_s: float = 50.0
    session_burst: int = 200
    # Frames admitted but not yet handed to Kafka, per stream. When Kafka is slower than the
    # client, the gateway stops reading that socket (TCP pushes back on the client) rather
    # than buffer more; the time it does not read is not counted against the client.
    publish_queue_frames: int = 10

    def public(self) -> dict[str, float | int]:
        """The limits a client needs to know to stay within them."""
        return {
            "max_frame_bytes": self.max_frame_bytes,
            "max_fps": self.max_fps,
            "max_frames": self.max_frames,
            "max_stream_s": self.max_stream_s,
        }


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway listens and how much it remembers."""

    host: str = "127.0.0.1"
    port: int = 8080
    limits: GatewayLimits = field(default_factory=GatewayLimits)
    decision_cache_size: int = 50_000
    # On start, decisions of this many past seconds are read back, so a restarted
    # gateway still answers polls for sessions decided just before.
    decision_lookback_s: float = 600.0
    static_dir: Path = STATIC_DIR
    # The tenants' backends and their hashed API keys (``LIVENESS_TENANTS_FILE``).
    tenants: TenantDirectory = field(default_factory=lambda: TenantDirectory([]))
    # The public demo: the page creates its own session, without a key (``--demo``). Off by default.
    demo_mode: bool = False
    attempts: AttemptPolicy = field(default_factory=AttemptPolicy)
    # Ed25519 public keys of the verifiers' decision signatures, published at /.well-known/jwks.json
    # (the current key and, while rotating, the previous one).
    decision_public_keys: tuple[Any, ...] = ()
