"""The events that flow through the pipeline, as frozen records.

Every JSON event carries ``kind`` and ``v`` (its schema version) so a consumer
can tell what it reads. Frames are the exception: their value is the raw JPEG
and their metadata travels in Kafka headers (see ``schemas.codec``), which keeps
the heaviest payload free of base64 and JSON parsing.

Decoders ignore fields they do not know, at any depth (forward compatibility:
a producer may add an optional field without a version bump); everything else
that breaks the contract raises ``SchemaError``. ``schemas.json_schemas``
publishes the same contract as JSON Schema.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.errors import SchemaError, UnsupportedVersionError
from schemas.limits import MAX_INT
from schemas.reasons import DeadLetterReason, Reason

SCHEMA_VERSION = 1

# FaceMesh indices the verifier reads, in the order they are sent. Sending this
# subset instead of all 468 points keeps an observation under 2 KB while giving
# the checks what they need: the nose against the cheeks and jaw (non-planarity),
# eye corners (yaw), eyelids (blink) and the face outline (box, continuity).
LANDMARK_SUBSET: tuple[int, ...] = (
    1,
    4,
    5,
    6,
    195,
    197,
    168,
    2,
    98,
    327,  # nose tip, ridge, base, nostrils
    10,
    151,
    9,
    152,
    175,  # forehead, chin
    33,
    133,
    362,
    263,  # eye corners: outer right, inner right, inner left, outer left
    160,
    158,
    144,
    153,
    159,
    145,  # right eyelids
    385,
    387,
    380,
    373,
    386,
    374,  # left eyelids
    70,
    105,
    300,
    334,  # brows
    234,
    454,
    127,
    356,
    93,
    323,  # face sides
    50,
    280,
    123,
    352,  # cheeks
    61,
    291,
    0,
    17,
    13,
    14,  # mouth
    172,
    397,
    136,
    365,
    58,
    288,  # jaw
)
MAX_EMBEDDING = 512  # face-recognition embeddings are 128-512 numbers
_SUBSET_POSITION = {index: position for position, index in enumerate(LANDMARK_SUBSET)}


def _require(data: Mapping[str, Any], key: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise SchemaError(f"missing field {key!r}") from None
    except TypeError:
        raise SchemaError(f"expected an object, got {type(data).__name__}") from None


def _int(data: Mapping[str, Any], key: str, *, minimum: int = 0) -> int:
    value = _require(data, key)
    if type(value) is int and minimum <= value <= MAX_INT:  # the usual case, checked first and cheaply
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaError(f"field {key!r} must be an integer")
    if value < minimum or value > MAX_INT:
        raise SchemaError(f"field {key!r} out of range: {value}")
    return value


def _float(data: Mapping[str, Any], key: str) -> float:
    value = _require(data, key)
    if type(value) is float and -1e9 <= value <= 1e9:  # the usual case (NaN fails it): checked first
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"field {key!r} must be a number")
    if not math.isfinite(value) or abs(value) > 1e9:
        raise SchemaError(f"field {key!r} must be a finite number")
    return float(value)


def _str(data: Mapping[str, Any], key: str, *, max_len: int = 256) -> str:
    value = _require(data, key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise SchemaError(f"field {key!r} must be a non-empty string of at most {max_len} chars")
    return value


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _str(data, key)


def _text(data: Mapping[str, Any], key: str) -> str:
    """A free-text field: any string, empty included."""
    value = _require(data, key)
    if not isinstance(value, str):
        raise SchemaError(f"field {key!r} must be a string")
    return value


def _one_of(data: Mapping[str, Any], key: str, allowed: Any) -> str:
    value = _str(data, key)
    if value not in allowed:
        raise SchemaError(f"field {key!r} has unknown value {value!r}")
    return value


def _optional_number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise SchemaError(f"field {key!r} must be a number or null")
    return value


def _with_optional(data: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """``data`` plus the optional fields that are set: an event without them is byte-identical to before."""
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def _check_header(data: Mapping[str, Any], kind: str) -> None:
    if not isinstance(data, Mapping):
        raise SchemaError(f"expected an object, got {type(data).__name__}")
    if data.get("kind") != kind:
        raise SchemaError(f"expected kind {kind!r}, got {data.get('kind')!r}")
    version = data.get("v")
    # bool is an int subclass and 1.0 == 1: both would pass a plain comparison.
    if type(version) is not int or version != SCHEMA_VERSION:
        raise UnsupportedVersionError(f"{kind} schema version {version!r} is not {SCHEMA_VERSION}")


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in image pixels."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.width / 2, self.top + self.height / 2)

    def contains_box(self, other: Box) -> bool:
        return (
            other.left >= self.left
            and other.top >= self.top
            and other.right <= self.right
            and other.bottom <= self.bottom
        )

    def contains_point(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom

    def widened(self, fraction: float) -> Box:
        """This box grown by ``fraction`` of its width and height on every side."""
        dx, dy = self.width * fraction, self.height * fraction
        return Box(self.left - dx, self.top - dy, self.width + 2 * dx, self.height + 2 * dy)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Box:
        box = cls(_float(data, "left"), _float(data, "top"), _float(data, "width"), _float(data, "height"))
        if box.width <= 0 or box.height <= 0:
            raise SchemaError("box width and height must be positive")
        return box


CHALLENGE_TYPES = ("nose", "turn", "blink", "nose_sequence")
# A nose sequence asks for two to four targets one after another: each step multiplies the
# chance a blind replay meets the challenge by the chance of meeting one target.
MIN_TARGETS, MAX_TARGETS = 2, 4


@dataclass(frozen=True)
class Challenge:
    """What the person is asked to do, drawn by the server for one session.

    ``nose`` is the target box of the nose challenge; ``targets`` the boxes of
    the nose-sequence challenge, in the order the nose must rest in them;
    ``sequence`` the head directions of the turn challenge (e.g. ``("left",
    "right")``); ``blinks`` the number of blinks of the blink challenge.
    """

    type: str
    image_width: int
    image_height: int
    area: Box
    nose: Box | None = None
    sequence: tuple[str, ...] = ()
    blinks: int = 0
    targets: tuple[Box, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "image_width": self.image_width,
            "image_height": self.image_height,
            "area": _box_dict(self.area),
        }
        if self.nose is not None:
            data["nose"] = _box_dict(self.nose)
        if self.sequence:
            data["sequence"] = list(self.sequence)
        if self.blinks:
            data["blinks"] = self.blinks
        if self.targets:
            data["targets"] = [_box_dict(box) for box in self.targets]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Challenge:
        kind = _str(data, "type")
        if kind not in CHALLENGE_TYPES:
            raise SchemaError(f"unknown challenge type {kind!r}")
        nose = Box.from_dict(data["nose"]) if data.get("nose") is not None else None
        if kind == "nose" and nose is None:
            raise SchemaError("a nose challenge needs a nose box")
        sequence = data.get("sequence", [])
        if not isinstance(sequence, list) or not all(s in ("left", "right") for s in sequence):
            raise SchemaError("sequence must be a list of left/right")
        if len(sequence) > 4:
            raise SchemaError("a turn sequence has at most 4 sides")
        blinks = data.get("blinks", 0)
        if isinstance(blinks, bool) or not isinstance(blinks, int) or not 0 <= blinks <= 10:
            raise SchemaError("blinks must be an integer from 0 to 10")
        # A challenge with nothing to do would pass on the first framed frame.
        if kind == "blink" and blinks == 0:
            raise SchemaError("a blink challenge needs at least one blink")
        if kind == "turn" and not sequence:
            raise SchemaError("a turn challenge needs a sequence of sides")
        targets = _targets(data)
        if kind == "nose_sequence" and not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
            raise SchemaError(f"a nose sequence needs {MIN_TARGETS} to {MAX_TARGETS} targets")
        return cls(
            type=kind,
            image_width=_int(data, "image_width", minimum=16),
            image_height=_int(data, "image_height", minimum=16),
            area=Box.from_dict(_require(data, "area")),
            nose=nose,
            sequence=tuple(sequence),
            blinks=blinks,
            targets=targets,
        )


def _targets(data: Mapping[str, Any]) -> tuple[Box, ...]:
    targets = data.get("targets", [])
    if not isinstance(targets, list) or len(targets) > MAX_TARGETS:
        raise SchemaError(f"targets must be a list of at most {MAX_TARGETS} boxes")
    return tuple(Box.from_dict(box) for box in targets)


def _box_dict(box: Box) -> dict[str, float]:
    # Always floats, as from_dict reads them: a box built from ints must encode (and digest,
    # see schemas.tokens) exactly as it does after a round trip, or its token stops verifying.
    return {
        "left": float(box.left),
        "top": float(box.top),
        "width": float(box.width),
        "height": float(box.height),
    }


@dataclass(frozen=True)
class SessionStarted:
    """A challenge was issued: the verifier starts following the session."""

    session_id: str
    challenge: Challenge
    issued_at_ms: int
    expires_at_ms: int
    token: str
    # Added within v1 (optional): who the session is for. ``tenant`` is the platform that created
    # it, ``user_ref`` the SHA-256 of the platform's user reference under the tenant
    # (``producers.gateway.tenants.user_ref_digest``), ``client_ref`` the SHA-256 of the client's
    # address key: what the attempt limits count, never a readable address or user id.
    tenant: str | None = None
    user_ref: str | None = None
    client_ref: str | None = None
    kind: str = field(default="session_started", init=False)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "kind": self.kind,
            "v": SCHEMA_VERSION,
            "session_id": self.session_id,
            "challenge": self.challenge.to_dict(),
            "issued_at_ms": self.issued_at_ms,
            "expires_at_ms": self.expires_at_ms,
            "token": self.token,
        }
        return _with_optional(data, tenant=self.tenant, user_ref=self.user_ref, client_ref=self.client_ref)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionStarted:
        _check_header(data, "session_started")
        return cls(
            session_id=_str(data, "session_id"),
            challenge=Challenge.from_dict(_require(data, "challenge")),
            issued_at_ms=_int(data, "issued_at_ms"),
            expires_at_ms=_int(data, "expires_at_ms"),
            token=_str(data, "token", max_len=1024),
            tenant=_optional_str(data, "tenant"),
            user_ref=_optional_str(data, "user_ref"),
            client_ref=_optional_str(data, "client_ref"),
        )


@dataclass(frozen=True)
class SessionEnded:
    """The client says it has sent its last frame; the verifier decides now."""

    session_id: str
    ended_at_ms: int
    last_seq: int
    kind: str = field(default="session_ended", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "v": SCHEMA_VERSION,
            "session_id": self.session_id,
            "ended_at_ms": self.ended_at_ms,
            "last_seq": self.last_seq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionEnded:
        _check_header(data, "session_ended")
        return cls(
            session_id=_str(data, "session_id"),
            ended_at_ms=_int(data, "ended_at_ms"),
            last_seq=_int(data, "last_seq"),
        )


@dataclass(frozen=True)
class SessionTick:
    """Internal to the verifier: its clock says this session may be due (silent or expired)."""

    session_id: str
    at_ms: int
    kind: str = field(default="session_tick", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "v": SCHEMA_VERSION, "session_id": self.session_id, "at_ms": self.at_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionTick:
        _check_header(data, "session_tick")
        return cls(session_id=_str(data, "session_id"), at_ms=_int(data, "at_ms"))


@dataclass(frozen=True)
class FrameMeta:
    """Metadata of one camera frame; the JPEG itself is the Kafka record value."""

    session_id: str
    seq: int
    captured_at_ms: int


@dataclass(frozen=True)
class Face:
    """One face found in a frame, in image pixels (z in pixels too, relative depth)."""

    box: Box
    nose: tuple[float, float]
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    landmarks: tuple[float, ...]  # x, y, z per LANDMARK_SUBSET index, flattened

    def point(self, mesh_index: int) -> tuple[float, float, float]:
        """The (x, y, z) of a FaceMesh landmark that is part of ``LANDMARK_SUBSET``."""
        i = 3 * _SUBSET_POSITION[mesh_index]
        return (self.landmarks[i], self.landmarks[i + 1], self.landmarks[i + 2])

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "box": _box_dict(self.box),
            "nose": list(self.nose),
            "yaw_deg": self.yaw_deg,
            "pitch_deg": self.pitch_deg,
            "roll_deg": self.roll_deg,
            "landmarks": list(self.landmarks),
        }
        return data

    @classmethod
    def trusted(cls, data: Mapping[str, Any]) -> Face:
        """Rebuild from this process's own ``to_dict`` output (the table), without re-validating."""
        box = data["box"]
        return cls(
            Box(box["left"], box["top"], box["width"], box["height"]),
            (data["nose"][0], data["nose"][1]),
            data["yaw_deg"],
            data["pitch_deg"],
            data["roll_deg"],
            tuple(data["landmarks"]),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Face:
        nose = _require(data, "nose")
        landmarks = _require(data, "landmarks")
        if not isinstance(nose, list) or len(nose) != 2:
            raise SchemaError("nose must be [x, y]")
        if not isinstance(landmarks, list) or len(landmarks) != 3 * len(LANDMARK_SUBSET):
            raise SchemaError(f"landmarks must hold {3 * len(LANDMARK_SUBSET)} numbers")
        values = _finite_numbers(landmarks)
        return cls(
            box=Box.from_dict(_require(data, "box")),
            nose=(_finite(nose[0]), _finite(nose[1])),
            yaw_deg=_float(data, "yaw_deg"),
            pitch_deg=_float(data, "pitch_deg"),
            roll_deg=_float(data, "roll_deg"),
            landmarks=values,
        )


def _embedding(data: Mapping[str, Any], key: str = "embedding") -> tuple[float, ...]:
    values = data.get(key, [])
    if not isinstance(values, list) or len(values) > MAX_EMBEDDING:
        raise SchemaError(f"embedding must be a list of at most {MAX_EMBEDDING} numbers")
    return _finite_numbers(values)


_NUMBER_TYPES = frozenset((float, int))
_FLOAT_ONLY = {float}


def _finite_numbers(values: list[Any]) -> tuple[float, ...]:
    """The landmarks check, in bulk: plain numbers (no bools), none NaN or infinite, none beyond 1e9."""
    types = set(map(type, values))
    if not _NUMBER_TYPES.issuperset(types):  # exact types (no bools), checked in C
        raise SchemaError("expected a list of numbers")
    # A NaN or an infinity makes the plain sum non-finite (numbers within 1e9 cannot overflow it).
    if values and (not math.isfinite(sum(values)) or max(values) > 1e9 or min(values) < -1e9):
        raise SchemaError("numbers must be finite and within 1e9")
    return tuple(values) if types == _FLOAT_ONLY else tuple(map(float, values))


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SchemaError("expected a finite number")
    if abs(value) > 1e9:  # the same bound as every other float field: pixels, never this large
        raise SchemaError(f"number out of range: {value}")
    return float(value)


@dataclass(frozen=True)
class Observation:
    """What one frame showed, as computed by a processor.

    ``received_at_ms`` is the broker's append time of the frame (server clock);
    ``captured_at_ms`` is the client's claim and is only compared against it.
    """

    session_id: str
    seq: int
    captured_at_ms: int
    received_at_ms: int
    image_width: int
    image_height: int
    faces: tuple[Face, ...]
    inference_ms: float = 0.0
    # Set when the frame could not be analysed (it also went to the dead-letter topic),
    # so the verifier knows the frame existed instead of waiting for it.
    error: str | None = None
    # Where the frame itself lies: its offset on the frames topic, in the partition of this
    # observation (the topics are co-partitioned). The identity stage reads it back from there.
    frame_offset: int | None = None
    kind: str = field(default="observation", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "v": SCHEMA_VERSION,
            "session_id": self.session_id,
            "seq": self.seq,
            "captured_at_ms": self.captured_at_ms,
            "received_at_ms": self.received_at_ms,
            "image_width": self.image_width,
            "image_height": self.image_height,
            "faces": [face.to_dict() for face in self.faces],
            "inference_ms": self.inference_ms,
            "error": self.error,
            "frame_offset": self.frame_offset,
        }

    @classmethod
    def trusted(cls, data: Mapping[str, Any]) -> Observation:
        """Rebuild from this process's own ``to_dict`` output, without re-validating."""
        return cls(
            data["session_id"],
            data["seq"],
            data["captured_at_ms"],
            data["received_at_ms"],
            data["image_width"],
            data["image_height"],
            tuple(Face.trusted(face) for face in data["faces"]),
            data["inference_ms"],
            data.get("error"),
            data.get("frame_offset"),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        _check_header(data, "observation")
        faces = _require(data, "faces")
        if not isinstance(faces, list) or len(faces) > 16:
            raise SchemaError("faces must be a list of at most 16 faces")
        return cls(
            session_id=_str(data, "session_id"),
            seq=_int(data, "seq"),
            captured_at_ms=_int(data, "captured_at_ms"),
            received_at_ms=_int(data, "received_at_ms"),
            image_width=_int(data, "image_width", minimum=1),
            image_height=_int(data, "image_height", minimum=1),
            faces=tuple(Face.from_dict(face) for face in faces),
            inference_ms=_float(data, "inference_ms"),
            error=_optional_str(data, "error"),
            frame_offset=_optional_int(data, "frame_offset"),
        )


@dataclass(frozen=True)
class IdentityRequest:
    """The verifier asks for the face embedding of one frame of a session (a milestone of its challenge).

    Only a few frames of a session are embedded (the first framed frame, each target
    reached): a face-recognition embedding costs about two FaceMesh frames of CPU.
    ``awaited``: a decision waits for this sample (the challenge is met and only the identity
    check is left), so the identity stage answers it before requests that nothing waits for yet.
    """

    session_id: str
    seq: int
    frame_offset: int | None  # on the frames topic, in this record's partition; None offline
    requested_at_ms: int
    awaited: bool = False
    kind: str = field(default="identity_request", init=False)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "kind": self.kind,
            "v": SCHEMA_VERSION,
            "session_id": self.session_id,
            "seq": self.seq,
            "frame_offset": self.frame_offset,
            "requested_at_ms": self.requested_at_ms,
        }
        # Written only when set: a request nothing waits for is byte-identical to before.
        return _with_optional(data, awaited=True if self.awaited else None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdentityRequest:
        _check_header(data, "identity_request")
        awaited = data.get("awaited")
        if awaited is not None and not isinstance(awaited, bool):
            raise SchemaError("field 'awaited' must be true, false or null")
        return cls(
            session_id=_str(data, "session_id"),
            seq=_int(data, "seq"),
            frame_offset=_optional_int(data, "frame_offset"),
            requested_at_ms=_int(data, "requested_at_ms"),
            awaited=bool(awaited),
        )


@dataclass(frozen=True)
class IdentitySample:
    """The face embedding of one requested frame, or why there is none (``error``)."""

    session_id: str
    seq: int
    embedding: tuple[float, ...]
    error: str | None = None
    kind: str = field(default="identity_sample", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "v": SCHEMA_VERSION,
            "session_id": self.session_id,
            "seq": self.seq,
            "embedding": [round(v, 5) for v in self.embedding],
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdentitySample:
        _check_header(data, "identity_sample")
        embedding = _embedding(data)
        error = _optional_str(data, "error")
        if not embedding and error is None:
            raise SchemaError("an identity sample needs an embedding or an error")
        return cls(
            session_id=_str(data, "session_id"), seq=_int(data, "seq"), embedding=embedding, error=error
        )


@dataclass(frozen=True)
class Check:
    """One measured check of a decision: its value, the limit it was held to, and the verdict."""

    name: str
    value: float | None
    threshold: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "threshold": self.threshold, "passed": self.passed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        name = _str(data, "name")
        passed = _require(data, "passed")
        if not isinstance(passed, bool):
            raise SchemaError("field 'passed' must be true or false")
        return cls(name, _optional_number(data, "value"), _optional_number(data, "threshold"), passed)


@dataclass(frozen=True)
class Decision:
    """The one verdict of a session. ``reason`` is ``PASSED`` exactly when ``outcome`` is ``pass``."""

    session_id: str
    outcome: str  # "pass" | "fail"
    reason: str
    challenge_type: str
    checks: tuple[Check, ...]
    frames_used: int
    frames_ignored: int
    started_at_ms: int
    decided_at_ms: int
    # Added within v1 (optional): the session's tenant and hashed user reference (copied from its
    # start), the face embedding of its reference frame, and the verifier's signature.
    tenant: str | None = None
    user_ref: str | None = None
    reference_embedding: tuple[float, ...] | None = None
    signature: DecisionSignature | None = None
    # Added within v1 (optional): the ids of the session's reference and audit images on the
    # evidence topic, written after the decision by the processor (``processors/evidence.py``).
    evidence: Evidence | None = None
    kind: str = field(default="decision", init=False)

    def to_dict(self) -> dict[str, Any]:
        """The decision as published; ``signature`` last, over everything else (``schemas.signatures``)."""
        data = self.unsigned_dict()
        if self.signature is not None:
            data["signature"] = self.signature.to_dict()
        return data

    def unsigned_dict(self) -> dict[str, Any]:
        """The decision without its signature: what the signature covers."""
        embedding = (
            None if self.reference_embedding is None else [round(v, 5) for v in self.reference_embedding]
        )
        data = {
            "kind": self.kind,
            "v": SCHEMA_VERSION,
            "session_id": self.session_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "challenge_type": self.challenge_type,
            "checks": [check.to_dict() for check in self.checks],
            "frames_used": self.frames_used,
            "frames_ignored": self.frames_ignored,
            "started_at_ms": self.started_at_ms,
            "decided_at_ms": self.decided_at_ms,
        }
        return _with_optional(
            data,
            tenant=self.tenant,
            user_ref=self.user_ref,
            reference_embedding=embedding,
            evidence=self.evidence.to_dict() if self.evidence is not None else None,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        _check_header(data, "decision")
        checks = _require(data, "checks")
        if not isinstance(checks, list):
            raise SchemaError("checks must be a list")
        outcome = _one_of(data, "outcome", ("pass", "fail"))
        reason = _one_of(data, "reason", set(Reason))
        if (outcome == "pass") != (reason == Reason.PASSED):
            raise SchemaError(f"outcome {outcome!r} contradicts reason {reason!r}")
        return cls(
            session_id=_str(data, "session_id"),
            outcome=outcome,
            reason=reason,
            challenge_type=_one_of(data, "challenge_type", CHALLENGE_TYPES),
            checks=tuple(Check.from_dict(check) for check in checks),
            frames_used=_int(data, "frames_used"),
            frames_ignored=_int(data, "frames_ignored"),
            started_at_ms=_int(data, "started_at_ms"),
            decided_at_ms=_int(data, "decided_at_ms"),
            tenant=_optional_str(data, "tenant"),
            user_ref=_optional_str(data, "user_ref"),
            reference_embedding=(
                _embedding(data, "reference_embedding") or None
                if data.get("reference_embedding") is not None
                else None
            ),
            signature=DecisionSignature.from_dict(data["signature"]) if data.get("signature") else None,
            evidence=Evidence.from_dict(data["evidence"]) if data.get("evidence") is not None else None,
        )


MAX_EVIDENCE_FRAMES = 16


@dataclass(frozen=True)
class Evidence:
    """Where a decided session's images are: ids of records on the evidence topic.

    The ids are deterministic (``<session_id>/reference``, ``<session_id>/<seq>``) because the
    decision is published before the processor copies the frames; ``frames`` names the frames
    to copy (``[seq, offset]`` on the session's partition of the frames topic).
    """

    reference: str
    audit: tuple[str, ...]
    frames: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "audit": list(self.audit),
            "frames": [[seq, offset] for seq, offset in self.frames],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        if not isinstance(data, Mapping):
            raise SchemaError("evidence must be an object")
        audit, frames = data.get("audit"), data.get("frames")
        if not isinstance(audit, list) or not isinstance(frames, list) or len(frames) > MAX_EVIDENCE_FRAMES:
            raise SchemaError(f"evidence needs lists 'audit' and 'frames' (at most {MAX_EVIDENCE_FRAMES})")
        if len(audit) > MAX_EVIDENCE_FRAMES or not all(isinstance(a, str) and len(a) <= 256 for a in audit):
            raise SchemaError("evidence audit ids must be strings")
        pairs = []
        for pair in frames:
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(type(v) is int and v >= 0 for v in pair)
            ):
                raise SchemaError("evidence frames must be [seq, offset] pairs of non-negative integers")
            pairs.append((pair[0], pair[1]))
        return cls(_str(data, "reference"), tuple(audit), tuple(pairs))

    @staticmethod
    def frame_id(session_id: str, seq: int) -> str:
        return f"{session_id}/{seq}"

    @staticmethod
    def reference_id(session_id: str) -> str:
        return f"{session_id}/reference"


@dataclass(frozen=True)
class DecisionSignature:
    """The verifier's signature of a decision: a compact JWS (EdDSA / Ed25519) and its key id.

    The JWS payload is the decision itself without this field, so a consumer in any
    language verifies it with a stock JWS or Ed25519 library and reads the payload;
    nothing has to be re-serialised (``docs/decisions-schema.md``).
    """

    kid: str
    jws: str
    alg: str = "EdDSA"

    def to_dict(self) -> dict[str, str]:
        return {"alg": self.alg, "kid": self.kid, "jws": self.jws}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionSignature:
        return cls(kid=_str(data, "kid"), jws=_str(data, "jws", max_len=65536), alg=_str(data, "alg"))


@dataclass(frozen=True)
class DeadLetter:
    """An input that could not be processed, with the reason and where it came from."""

    reason: str
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    session_id: str | None
    payload_bytes: int
    payload_head: str  # first bytes of the payload, hex, for diagnosis
    occurred_at_ms: int
    kind: str = field(default="dead_letter", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "v": SCHEMA_VERSION,
            "reason": self.reason,
            "detail": self.detail,
            "source_topic": self.source_topic,
            "source_partition": self.source_partition,
            "source_offset": self.source_offset,
            "session_id": self.session_id,
            "payload_bytes": self.payload_bytes,
            "payload_head": self.payload_head,
            "occurred_at_ms": self.occurred_at_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeadLetter:
        _check_header(data, "dead_letter")
        return cls(
            reason=_one_of(data, "reason", set(DeadLetterReason)),
            detail=_text(data, "detail"),
            source_topic=_str(data, "source_topic"),
            source_partition=_int(data, "source_partition"),
            source_offset=_int(data, "source_offset"),
            session_id=_optional_str(data, "session_id"),
            payload_bytes=_int(data, "payload_bytes"),
            payload_head=_text(data, "payload_head"),
            occurred_at_ms=_int(data, "occurred_at_ms"),
        )


@dataclass(frozen=True)
class SourceRef:
    """Where a record came from, for dead letters."""

    topic: str
    partition: int
    offset: int


def dead_letter(
    reason: str, detail: str, source: SourceRef, payload: bytes | None, session_id: str | None, now_ms: int
) -> DeadLetter:
    """A dead letter for a record that could not be processed, with the first bytes for diagnosis."""
    payload = payload or b""
    return DeadLetter(
        reason=reason,
        detail=detail[:1000],
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
        session_id=session_id,
        payload_bytes=len(payload),
        payload_head=payload[:32].hex(),
        occurred_at_ms=now_ms,
    )
