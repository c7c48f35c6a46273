"""Real FaceMesh landmarks of the catalogued photos, and the motions the verifier tests apply to them.

Genuine-like motion is a rigid 3D rotation of a real photo's 468-point mesh
about a vertical axis behind the face, projected orthographically: the nose
moves against the cheeks. Attack-like motion maps the 2D landmarks by a
homography, which is all a flat photo moved, rolled or tilted in front of a
camera can do. Every face the tests feed the verifier comes out of
``processors.landmarks.face_from_mesh``, so it is rounded and subset exactly as
a processor would send it.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from devtools.media import fetch_media
from processors.landmarks import FaceAnalyzer, face_from_mesh
from producers.challenge_service import ChallengeService
from schemas.events import (
    Box,
    Challenge,
    Decision,
    Face,
    IdentityRequest,
    IdentitySample,
    Observation,
    SessionEnded,
    SessionStarted,
)
from schemas.tokens import TokenKeys
from verifier.challenges import area_box
from verifier.challenges.nose import NOSE_BOX_PX
from verifier.session import Outcome, Session, Verifier

Mesh = NDArray[np.float64]

FRAME_WIDTH, FRAME_HEIGHT = 640, 480
# A face 170 px wide centred here lies inside the sample's area box (185, 60, 270, 360)
# and fills about 35% of it, above the 20% the verifier asks for.
FACE_WIDTH_PX = 170.0
FACE_CENTRE = (320.0, 250.0)
# The axis a head turns about lies roughly this many face widths behind the nose tip.
HEAD_DEPTH = 0.75
# A webcam's focal length in pixels at 640x480 (about 56 degrees of horizontal view).
FOCAL_PX = 600.0

SESSION_ID = "session-1"
KEYS = TokenKeys(b"test-secret-of-32-bytes-long-ok!")
ISSUED_MS = 1_700_000_000_000
START_MS = ISSUED_MS + 2_000  # server receive time of frame 0
FRAME_MS = 83  # 12 fps, the sample client's rate
CLOCK_OFFSET_MS = 40  # the client's capture time runs this far behind the server's receive time
PROCESSING_MS = 5  # the verifier's clock when it handles a frame, after the frame's receive time

# Near-frontal photos (|yaw| under 7 degrees) of five different people.
PEOPLE = ("audrey_crop.jpg", "obama4_crop.jpg", "SeanConnery.jpg", "cage2_crop.jpg", "walter2_crop.jpg")


@functools.cache
def _analysed_meshes() -> dict[str, Mesh]:
    media = fetch_media()
    meshes: dict[str, Mesh] = {}
    with FaceAnalyzer() as analyzer:
        for path in media.photos:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            assert image is not None, path
            found = analyzer.mesh_points(image)
            assert len(found) == 1, path
            meshes[path.name] = found[0]
    return meshes


def real_mesh(name: str = PEOPLE[0]) -> Mesh:
    """The (468, 3) pixel mesh of one catalogued photo, framed at the test's face size and place."""
    return framed(_analysed_meshes()[name])


def real_mesh_names() -> tuple[str, ...]:
    return tuple(sorted(_analysed_meshes()))


# ---- motions of a mesh ------------------------------------------------------------------------


def _centre(points: Mesh) -> NDArray[np.float64]:
    return (points[:, :2].min(axis=0) + points[:, :2].max(axis=0)) / 2


def framed(points: Mesh, width: float = FACE_WIDTH_PX, centre: tuple[float, float] = FACE_CENTRE) -> Mesh:
    """The mesh scaled (z too) so its box is ``width`` wide, with the box centred on ``centre``."""
    scale = width / float(np.ptp(points[:, 0]))
    out = (points - np.array([*_centre(points), 0.0])) * scale
    out[:, 0] += centre[0]
    out[:, 1] += centre[1]
    return out


def translated(points: Mesh, dx: float, dy: float) -> Mesh:
    return points + np.array([dx, dy, 0.0])


def scaled(points: Mesh, factor: float) -> Mesh:
    """Nearer to or farther from the camera: scaled about the box centre, depth included."""
    centre = np.array([*_centre(points), 0.0])
    return (points - centre) * factor + centre


def rolled(points: Mesh, roll_deg: float) -> Mesh:
    """Turned in the image plane about the box centre (the same for a head and a photo)."""
    t = math.radians(roll_deg)
    rotation = np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])
    centre = np.array([*_centre(points), 0.0])
    return (points - centre) @ rotation.T + centre


def turned(points: Mesh, yaw_deg: float, depth: float = HEAD_DEPTH) -> Mesh:
    """A real 3D head turn: rotate about a vertical axis ``depth`` face widths behind the nose tip.

    Positive ``yaw_deg`` points the nose toward +x (image right), the sign of
    ``processors.landmarks.head_pose``. Projection is orthographic: x, y are
    kept as image coordinates and the rotated z as the new depth.
    """
    width = float(np.ptp(points[:, 0]))
    pivot_x, pivot_z = float(_centre(points)[0]), float(points[1, 2]) + depth * width
    t = math.radians(yaw_deg)
    x, z = points[:, 0] - pivot_x, points[:, 2] - pivot_z
    out = points.copy()
    out[:, 0] = pivot_x + x * math.cos(t) - z * math.sin(t)
    out[:, 2] = pivot_z + x * math.sin(t) + z * math.cos(t)
    return out


def pitched(points: Mesh, pitch_deg: float, depth: float = HEAD_DEPTH) -> Mesh:
    """A real 3D nod about a horizontal axis behind the face; positive points the nose toward +y."""
    height = float(np.ptp(points[:, 1]))
    pivot_y, pivot_z = float(_centre(points)[1]), float(points[1, 2]) + depth * height
    t = math.radians(pitch_deg)
    y, z = points[:, 1] - pivot_y, points[:, 2] - pivot_z
    out = points.copy()
    out[:, 1] = pivot_y + y * math.cos(t) - z * math.sin(t)
    out[:, 2] = pivot_z + y * math.sin(t) + z * math.cos(t)
    return out


def mapped(points: Mesh, homography: NDArray[np.float64]) -> Mesh:
    """The image points mapped by a 3x3 homography (depth kept): a flat picture's only motion."""
    ones = np.ones((len(points), 1))
    projected = np.hstack([points[:, :2], ones]) @ homography.T
    out = points.copy()
    out[:, :2] = projected[:, :2] / projected[:, 2:3]
    return out


def tilted(points: Mesh, tilt_deg: float, focal_px: float = FOCAL_PX) -> Mesh:
    """A flat photo of the face turned ``tilt_deg`` about its vertical axis, seen by a pinhole camera.

    The photo lies at distance ``focal_px`` (so it keeps its size when not
    tilted); positive tilt makes its image-right side recede, as a head turning
    toward +x does.
    """
    cx, cy = _centre(points)
    t = math.radians(tilt_deg)
    homography = np.array(
        [
            [focal_px * math.cos(t), 0.0, 0.0],
            [0.0, focal_px, 0.0],
            [math.sin(t), 0.0, focal_px],
        ]
    )
    to_centre = np.array([[1.0, 0, -cx], [0, 1.0, -cy], [0, 0, 1.0]])
    back = np.array([[1.0, 0, cx], [0, 1.0, cy], [0, 0, 1.0]])
    return mapped(points, back @ homography @ to_centre)


def tilted_read_as_turned(points: Mesh, tilt_deg: float) -> Mesh:
    """The worst case of a tilted photo: its 2D landmarks are a homography, yet depth reads a turn.

    The landmark model infers depth from the foreshortened picture; assume it
    is fooled completely, so head pose reports the full turn. Only the
    non-planarity of the 2D landmarks can then tell the photo from a head.
    """
    out = tilted(points, tilt_deg)
    out[:, 2] = turned(points, tilt_deg)[:, 2]
    return out


# The eye-aspect-ratio landmarks: upper lid p2, p3 and the lower lid points below them, p6, p5.
_LIDS = ((160, 144), (158, 153), (385, 380), (387, 373))


def closed_eyes(points: Mesh, fraction: float = 1.0) -> Mesh:
    """Upper eyelids moved ``fraction`` of the way onto the lower lids (1 = shut)."""
    out = points.copy()
    for upper, lower in _LIDS:
        out[upper] = points[upper] + fraction * (points[lower] - points[upper])
    return out


def face(points: Mesh) -> Face:
    return face_from_mesh(points)


# ---- challenges, observations and sessions ----------------------------------------------------


def nose_challenge(offset_x_px: float = 60.0, offset_y_px: float = 20.0) -> Challenge:
    """A nose challenge with its 20x20 target ``offset`` from the image centre (sample geometry)."""
    centre_x, centre_y = FRAME_WIDTH / 2 + offset_x_px, FRAME_HEIGHT / 2 + offset_y_px
    half = NOSE_BOX_PX / 2
    nose = Box(centre_x - half, centre_y - half, NOSE_BOX_PX, NOSE_BOX_PX)
    return Challenge("nose", FRAME_WIDTH, FRAME_HEIGHT, area_box(FRAME_WIDTH, FRAME_HEIGHT), nose=nose)


def turn_challenge(*sequence: str) -> Challenge:
    area = area_box(FRAME_WIDTH, FRAME_HEIGHT)
    return Challenge("turn", FRAME_WIDTH, FRAME_HEIGHT, area, sequence=tuple(sequence))


def blink_challenge(blinks: int) -> Challenge:
    return Challenge("blink", FRAME_WIDTH, FRAME_HEIGHT, area_box(FRAME_WIDTH, FRAME_HEIGHT), blinks=blinks)


def nose_path(points: Mesh, challenge: Challenge, yaw_deg: float, frames: int = 12) -> list[Mesh]:
    """Frames of a head that turns by ``yaw_deg`` and shifts so its nose ends on the target.

    ``yaw_deg`` 0 is a photo slid into the target; a negative turn toward a
    right-hand target is a head turning away. The motion is eased, as a
    person's is, so the nose trajectory is smooth.
    """
    assert challenge.nose is not None
    target_x, target_y = challenge.nose.centre
    end = turned(points, yaw_deg)
    dx, dy = target_x - end[1, 0], target_y - end[1, 1]
    path = []
    for t in np.linspace(0.0, 1.0, frames):
        eased = (1 - math.cos(math.pi * t)) / 2
        path.append(translated(turned(points, yaw_deg * eased), dx * eased, dy * eased))
    return path


def tilted_photo_path(points: Mesh, challenge: Challenge, tilt_deg: float, frames: int = 12) -> list[Mesh]:
    """A flat photo tilted by up to ``tilt_deg`` and slid so its nose ends on the target."""
    assert challenge.nose is not None
    target_x, target_y = challenge.nose.centre
    end = tilted_read_as_turned(points, tilt_deg)
    dx, dy = target_x - end[1, 0], target_y - end[1, 1]
    path = []
    for t in np.linspace(0.0, 1.0, frames):
        eased = (1 - math.cos(math.pi * t)) / 2
        path.append(translated(tilted_read_as_turned(points, tilt_deg * eased), dx * eased, dy * eased))
    return path


def observation(
    seq: int,
    faces: Sequence[Face],
    *,
    received_at_ms: int | None = None,
    captured_at_ms: int | None = None,
    error: str | None = None,
    session_id: str = SESSION_ID,
) -> Observation:
    """One frame's observation; by default received at 12 fps from ``START_MS``, captured 40 ms earlier."""
    received = START_MS + seq * FRAME_MS if received_at_ms is None else received_at_ms
    captured = received - CLOCK_OFFSET_MS if captured_at_ms is None else captured_at_ms
    return Observation(
        session_id, seq, captured, received, FRAME_WIDTH, FRAME_HEIGHT, tuple(faces), 10.0, error
    )


def identity(person: str, noise: float = 0.0, seed: int = 0) -> tuple[float, ...]:
    """A stand-in embedding for ``person``: a fixed unit vector, perturbed like a head turn moves it.

    The model itself is tested on real faces in tests/unit/processors; here only the
    session logic around the distances matters. 0.02 of noise per dimension moves a
    128-d unit vector by ~0.2, as a head turn moves a real embedding.
    """
    base = np.random.default_rng(zlib.crc32(person.encode())).normal(size=128)
    vector = base / np.linalg.norm(base) + np.random.default_rng(seed).normal(scale=noise, size=128)
    return tuple(float(v) for v in vector / np.linalg.norm(vector))


Identity = Callable[[int], tuple[float, ...]]


def same_person(person: str = PEOPLE[0]) -> Identity:
    """The identity stage's answer for frame ``seq`` of a session with one person throughout."""
    return lambda seq: identity(person, 0.02, seq)


def observations(meshes: Iterable[Mesh], first_seq: int = 0) -> list[Observation]:
    return [observation(first_seq + i, [face(points)]) for i, points in enumerate(meshes)]


def started(
    challenge: Challenge, issued_at_ms: int = ISSUED_MS, keys: TokenKeys = KEYS, session_id: str = SESSION_ID
) -> SessionStarted:
    """A session start signed as the challenge service signs it."""
    return ChallengeService(keys).start(issued_at_ms, challenge=challenge, session_id=session_id)


def ended(last_seq: int, session_id: str = SESSION_ID) -> SessionEnded:
    return SessionEnded(session_id, START_MS + last_seq * FRAME_MS, last_seq)


Event = SessionStarted | SessionEnded | Observation


def handled_at(event: Event) -> int:
    """The verifier's clock when it handles an event: just after a frame's receipt, else on time."""
    if isinstance(event, Observation):
        return event.received_at_ms + PROCESSING_MS
    if isinstance(event, SessionStarted):
        return event.issued_at_ms + PROCESSING_MS
    return event.ended_at_ms + PROCESSING_MS


def stored(session: Session) -> Session:
    """The session as the Faust table gives it back: through its row bytes and ``from_row``."""
    return Session.from_row(session.to_row())


@functools.cache
def _default_verifier() -> Verifier:
    return Verifier(keys=KEYS)


def play(
    events: Iterable[Event | tuple[Event, int]],
    verifier: Verifier | None = None,
    *,
    through_table: bool = False,
    embeddings: Identity | None = None,
) -> tuple[Session | None, list[Decision]]:
    """Feed events in order (each handled at ``handled_at`` unless paired with a clock value).

    Returns the final session and every decision emitted. With ``through_table``
    the session is serialised and read back between events, as the streaming
    verifier stores it. Identity requests are answered at once, as a fast identity
    stage would, with ``embeddings(seq)`` (one person by default; an empty answer is
    a frame that could not be embedded).
    """
    verifier = verifier or _default_verifier()
    embeddings = embeddings or same_person()
    session: Session | None = None
    decisions: list[Decision] = []
    queue = [item if isinstance(item, tuple) else (item, handled_at(item)) for item in events]
    while queue:
        event, now_ms = queue.pop(0)
        outcome: Outcome = verifier.handle(session, event, now_ms)
        session = stored(outcome.session) if through_table else outcome.session
        if outcome.decision is not None:
            decisions.append(outcome.decision)
        answers = [_answer(request, embeddings) for request in outcome.identity_requests]
        queue[:0] = [(answer, now_ms + 1) for answer in answers]
    return session, decisions


def _answer(request: IdentityRequest, embeddings: Identity) -> IdentitySample:
    embedding = embeddings(request.seq)
    return IdentitySample(request.session_id, request.seq, embedding, None if embedding else "no face")


def only_decision(
    events: Iterable[Event | tuple[Event, int]],
    verifier: Verifier | None = None,
    embeddings: Identity | None = None,
) -> Decision:
    """The one decision a sequence of events produced (fails when there is none or more)."""
    _, decisions = play(events, verifier, embeddings=embeddings)
    assert len(decisions) == 1, decisions
    return decisions[0]


def check(decision: Decision, name: str) -> tuple[float | None, bool]:
    """The value and verdict of one named check of a decision."""
    matches = [c for c in decision.checks if c.name == name]
    assert len(matches) == 1, (name, decision.checks)
    return matches[0].value, matches[0].passed
