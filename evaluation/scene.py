"""Scenes for generated sessions: a face photo placed in a 640x480 room, a printed card, a frame clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from devtools.media import MediaSet
from processors.landmarks import NOSE_TIP, FaceAnalyzer
from schemas.events import Box
from verifier.challenges.base import area_box

FRAME_WIDTH, FRAME_HEIGHT = 640, 480
AREA = area_box(FRAME_WIDTH, FRAME_HEIGHT)
ASTRONAUT_PERSON = "eileen-collins"  # skimage's astronaut.png: NASA portrait of Eileen Collins
FILL_RANGE = (0.35, 0.50)  # face box over area box, the framing a person settles in
# An attacker holding a print keeps it small (the verifier asks for 20%), so it can
# travel to the target without leaving the area box.
CARD_FILL_RANGE = (0.22, 0.35)
FRAME_INTERVAL_MS = 100  # ~10 fps, like the web client
FOCAL_PX = 600.0  # a webcam's focal length at 640 px (~56 deg horizontal field of view)


class SceneError(ValueError):
    """A photo could not be framed as a single, well-placed face."""


@dataclass(frozen=True)
class FacePhoto:
    """One photo of a real person, with its FaceMesh in the photo's pixels."""

    path: Path
    person: str
    image: np.ndarray
    mesh: np.ndarray

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Scene:
    """A 640x480 frame of a person in a room, and where everything is in it.

    ``card`` is the photo with a white margin, as it would be printed, and
    ``card_origin`` its top-left corner in the frame; ``room`` is the frame without
    the person, for attacks that move the card over it.
    """

    frame: np.ndarray
    mesh: np.ndarray
    room: np.ndarray
    card: np.ndarray
    card_origin: tuple[float, float]

    @property
    def nose(self) -> tuple[float, float]:
        return float(self.mesh[NOSE_TIP, 0]), float(self.mesh[NOSE_TIP, 1])

    @property
    def face_box(self) -> Box:
        low, high = self.mesh[:, :2].min(axis=0), self.mesh[:, :2].max(axis=0)
        return Box(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))


def load_face_photos(media: MediaSet, analyzer: FaceAnalyzer) -> list[FacePhoto]:
    """Every photo of ``media`` with exactly one face, and the astronaut, with their meshes."""
    sources = [(path, media.person(path)) for path in media.photos] + [(media.astronaut, ASTRONAUT_PERSON)]
    photos = []
    for path, person in sources:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        meshes = analyzer.mesh_points(image) if image is not None else []
        if len(meshes) == 1:
            photos.append(FacePhoto(path, person, image, meshes[0]))
    return photos


def room(rng: np.random.Generator) -> np.ndarray:
    """A plain, out-of-focus room: a wall gradient with a few soft shapes and sensor noise, no faces."""
    wall = rng.uniform(70, 200, size=(2, 3))
    ramp = np.linspace(0, 1, FRAME_WIDTH)[None, :, None]
    tilt = np.linspace(-0.15, 0.15, FRAME_HEIGHT)[:, None, None]
    image = wall[0] * (1 - ramp) + wall[1] * ramp + tilt * 60
    for _ in range(rng.integers(2, 5)):
        x0, y0 = rng.integers(0, FRAME_WIDTH), rng.integers(0, FRAME_HEIGHT)
        w, h = rng.integers(60, 260), rng.integers(60, 300)
        cv2.rectangle(
            image, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), rng.uniform(40, 220, 3).tolist(), -1
        )
    image = cv2.GaussianBlur(image, (0, 0), 9)
    image += rng.normal(0, 2.0, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def place(
    photo: FacePhoto,
    analyzer: FaceAnalyzer,
    rng: np.random.Generator,
    fill: float | None = None,
    offset: tuple[float, float] = (0.0, 0.0),
    background: np.ndarray | None = None,
) -> Scene:
    """The photo scaled so its face fills ``fill`` of the area box, centred (plus ``offset``), over a room.

    ``background``: this room rather than a new one (two people filmed at one place).
    """
    fill = rng.uniform(*FILL_RANGE) if fill is None else fill
    low, high = photo.mesh[:, :2].min(axis=0), photo.mesh[:, :2].max(axis=0)
    scale = math.sqrt(fill * AREA.area / float(np.prod(high - low)))
    centre = (low + high) / 2 * scale
    x, y = rng.uniform(-6, 6, 2) + offset + (FRAME_WIDTH / 2, FRAME_HEIGHT / 2)
    origin = (x - centre[0], y - centre[1])
    scaled = cv2.resize(photo.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    background = room(rng) if background is None else background
    frame = paste(background, scaled, origin, feather_px=3.0)
    meshes = analyzer.mesh_points(frame)
    if len(meshes) != 1:
        raise SceneError(f"{photo.name}: {len(meshes)} faces after placing it in the frame")
    scene = Scene(
        frame, meshes[0], background, print_card(scaled), (origin[0] - _MARGIN, origin[1] - _MARGIN)
    )
    if not AREA.contains_box(scene.face_box) or scene.face_box.area < 0.21 * AREA.area:
        raise SceneError(f"{photo.name}: face box {scene.face_box} is not framed in the area box")
    return scene


_MARGIN = 8  # white border of a printed photo, in frame pixels


def print_card(photo: np.ndarray) -> np.ndarray:
    """The photo as printed: a white margin around it."""
    return cv2.copyMakeBorder(
        photo, _MARGIN, _MARGIN, _MARGIN, _MARGIN, cv2.BORDER_CONSTANT, value=(245, 245, 245)
    )


def paste(
    background: np.ndarray, image: np.ndarray, origin: tuple[float, float], feather_px: float
) -> np.ndarray:
    """``image`` over ``background`` with its top-left at ``origin``, edges softened by ``feather_px``."""
    shift = np.array([[1, 0, origin[0]], [0, 1, origin[1]]], dtype=np.float64)
    return warp_over(background, image, shift, feather_px)


def warp_over(
    background: np.ndarray, image: np.ndarray, transform: np.ndarray, feather_px: float = 0.8
) -> np.ndarray:
    """``image`` mapped onto ``background`` by a 2x3 affine or 3x3 homography, blended at its edges."""
    size = (background.shape[1], background.shape[0])
    mask = np.full(image.shape[:2], 255, np.uint8)
    mask = cv2.copyMakeBorder(mask[1:-1, 1:-1], 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    if transform.shape == (2, 3):
        warped = cv2.warpAffine(image, transform, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(mask, transform, size, flags=cv2.INTER_LINEAR)
    else:
        warped = cv2.warpPerspective(image, transform, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(mask, transform, size, flags=cv2.INTER_LINEAR)
    if feather_px > 1:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather_px)
    weight = (alpha.astype(np.float32) / 255)[..., None]
    blended = warped.astype(np.float32) * weight + background.astype(np.float32) * (1 - weight)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def card_homography(
    pivot: tuple[float, float],
    *,
    tilt_deg: float = 0.0,
    roll_deg: float = 0.0,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Where a flat card held in the frame goes when turned, rolled, brought nearer and moved.

    The card turns by ``tilt_deg`` about its vertical axis through ``pivot`` (positive:
    its +x side goes away from the camera, as a face turning toward +x foreshortens
    that side), rolls by ``roll_deg`` in its plane, and is seen through a pinhole
    camera of ``FOCAL_PX``. Four points fix the homography.
    """
    corners = np.array([[-100, -100], [100, -100], [100, 100], [-100, 100]], dtype=np.float32)
    tilt, roll = math.radians(tilt_deg), math.radians(roll_deg)
    rolled = corners @ np.array(
        [[math.cos(roll), math.sin(roll)], [-math.sin(roll), math.cos(roll)]], dtype=np.float32
    )
    x, y = rolled[:, 0] * scale, rolled[:, 1] * scale
    depth = FOCAL_PX + x * math.sin(tilt)
    projected = np.stack([x * math.cos(tilt), y], axis=1) * (FOCAL_PX / depth)[:, None]
    target = projected + np.array(pivot, dtype=np.float32) + np.array(shift, dtype=np.float32)
    return cv2.getPerspectiveTransform(corners + np.array(pivot, dtype=np.float32), target.astype(np.float32))


def apply_homography(transform: np.ndarray, point: tuple[float, float]) -> tuple[float, float]:
    x, y, w = transform @ np.array([point[0], point[1], 1.0])
    return float(x / w), float(y / w)


def card_frame(scene: Scene, transform: np.ndarray) -> np.ndarray:
    """The room with the printed card at its place in the scene, then moved by ``transform`` (3x3)."""
    to_frame = np.array(
        [[1, 0, scene.card_origin[0]], [0, 1, scene.card_origin[1]], [0, 0, 1]], dtype=np.float64
    )
    return warp_over(scene.room, scene.card, transform @ to_frame)


def frame_times(
    rng: np.random.Generator, count: int, start_ms: int, interval_ms: float = FRAME_INTERVAL_MS
) -> list[int]:
    """Capture times of ``count`` frames at ~10 fps, each interval jittered by up to +/-15%."""
    steps = interval_ms * rng.uniform(0.85, 1.15, count)
    steps[0] = 0
    return [start_ms + int(round(t)) for t in np.cumsum(steps)]


def ease(progress: float) -> float:
    """Ease in and out (a head accelerates, then settles): 0 -> 0, 1 -> 1."""
    clipped = min(max(progress, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * clipped)


def smooth_noise(rng: np.random.Generator, count: int, amplitude: float) -> np.ndarray:
    """A slow wobble (a hand or a head is never perfectly still): noise low-passed over ~4 frames."""
    raw = rng.normal(0, 1, count + 8)
    kernel = np.hanning(9)
    smooth = np.convolve(raw, kernel / kernel.sum(), mode="valid")[:count]
    spread = float(smooth.std()) or 1.0
    return smooth / spread * amplitude


def jpeg(frame: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SceneError("JPEG encoding failed")
    return buffer.tobytes()


def nose_of(meshes: Sequence[np.ndarray]) -> tuple[float, float] | None:
    """The nose of the only face, or None when there is not exactly one."""
    if len(meshes) != 1:
        return None
    return float(meshes[0][NOSE_TIP, 0]), float(meshes[0][NOSE_TIP, 1])
