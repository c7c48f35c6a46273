"""Real events of every JSON kind, made by the code that makes them in the pipeline.

Session starts come from the challenge service, observations from the
processor on a real photo, decisions from the verifier, dead letters from
``schemas.events.dead_letter``; only the values a test needs fixed are chosen here.
"""

from __future__ import annotations

import functools
from typing import Any

import cv2

from devtools.media import fetch_media
from processors.landmarks import FaceAnalyzer, FrameAnalysis, observation_from
from producers.challenge_service import ChallengePolicy, ChallengeService
from schemas.events import (
    Check,
    DeadLetter,
    Decision,
    FrameMeta,
    IdentityRequest,
    IdentitySample,
    Observation,
    SessionEnded,
    SessionStarted,
    SessionTick,
    SourceRef,
    dead_letter,
)
from schemas.reasons import DeadLetterReason, Reason
from schemas.tokens import TokenKeys
from verifier.session import Verifier

KEYS = TokenKeys(b"sample-events-secret-32-bytes-ok")
NOW_MS = 1_700_000_000_000
SESSION_ID = "0123456789abcdef0123456789abcdef"


@functools.cache
def real_analysis() -> FrameAnalysis:
    """The processor's analysis of one real photo (one face)."""
    image = cv2.imread(str(fetch_media().root / "audrey_crop.jpg"), cv2.IMREAD_COLOR)
    assert image is not None
    with FaceAnalyzer() as analyzer:
        return analyzer.analyse_image(image)


def session_starts() -> list[SessionStarted]:
    """One signed session start per challenge type, drawn by the server."""
    return [
        ChallengeService(KEYS, ChallengePolicy(weights={name: 1.0})).start(NOW_MS, session_id=SESSION_ID)
        for name in ("nose", "turn", "blink", "nose_sequence")
    ]


def observations() -> list[Observation]:
    """A frame with one real face, one with two, one with none, and one the processor could not read."""
    analysis = real_analysis()
    face = analysis.faces[0]
    meta = FrameMeta(SESSION_ID, 3, NOW_MS + 1_000)
    one = observation_from(analysis, meta, NOW_MS + 1_040, frame_offset=17)
    two = Observation(
        SESSION_ID, 4, NOW_MS + 1_083, NOW_MS + 1_123, one.image_width, one.image_height, (face, face), 31.5
    )
    none = Observation(SESSION_ID, 5, NOW_MS + 1_166, NOW_MS + 1_206, 640, 480, ())
    failed = Observation(SESSION_ID, 6, NOW_MS + 1_249, NOW_MS + 1_289, 1, 1, (), error="CORRUPT_FRAME")
    return [one, two, none, failed]


def decisions() -> list[Decision]:
    """Decisions the verifier emits: a bad token, an expired start, a session with no face; and a pass."""
    starts = session_starts()
    forged = SessionStarted(SESSION_ID, starts[0].challenge, NOW_MS, NOW_MS + 60_000, "forged.token")
    verifier = Verifier(keys=KEYS)
    bad_token = verifier.on_started(None, forged, NOW_MS).decision
    expired = verifier.on_started(None, starts[1], starts[1].expires_at_ms + 1).decision
    opened = verifier.on_started(None, starts[2], NOW_MS).session
    no_face = verifier.on_tick(opened, NOW_MS + 3_600_000).decision
    passed = Decision(
        SESSION_ID,
        "pass",
        Reason.PASSED.value,
        "nose",
        (Check("nonplanarity", 0.031, 0.012, True), Check("token", None, None, True)),
        frames_used=9,
        frames_ignored=1,
        started_at_ms=NOW_MS,
        decided_at_ms=NOW_MS + 900,
    )
    made = [bad_token, expired, no_face]
    assert all(decision is not None for decision in made)
    return [decision for decision in made if decision is not None] + [passed]


def dead_letters() -> list[DeadLetter]:
    """One dead letter per reason code, with and without a session id."""
    source = SourceRef("liveness.frames", 2, 1234)
    return [
        dead_letter(reason.value, f"detail of {reason.value}", source, b"\xff\xd8garbage", session_id, NOW_MS)
        for reason, session_id in zip(
            DeadLetterReason, [None, SESSION_ID] * len(DeadLetterReason), strict=False
        )
    ]


def session_ends() -> list[SessionEnded]:
    return [SessionEnded(SESSION_ID, NOW_MS + 9_000, 107)]


def ticks() -> list[SessionTick]:
    return [SessionTick(SESSION_ID, NOW_MS + 20_000)]


def all_events() -> list[Any]:
    return [
        *session_starts(),
        *session_ends(),
        *ticks(),
        *observations(),
        *decisions(),
        *dead_letters(),
        *identity_events(),
    ]


def identity_events() -> list[Any]:
    """An identity request and its two kinds of answer: an embedding, or the reason there is none."""
    return [
        IdentityRequest("s-identity", 4, 1234, 1_700_000_000_000),
        IdentitySample("s-identity", 4, tuple(round(0.1 * (i % 7) - 0.3, 5) for i in range(128))),
        IdentitySample("s-identity", 5, (), "2 faces in the frame"),
    ]
