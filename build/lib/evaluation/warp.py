"""Genuine 3D head motion from a single photo: a FaceMesh-driven piecewise-affine mesh warp."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

NOSE_TIP = 1
# Upper eyelid contour -> the lower-lid point below it (FaceMesh indices), for blinks.
EYELID_PAIRS: tuple[tuple[int, int], ...] = (
    (246, 7),
    (161, 163),
    (160, 144),
    (159, 145),
    (158, 153),
    (157, 154),
    (173, 155),
    (466, 249),
    (388, 390),
    (387, 373),
    (386, 374),
    (385, 380),
    (384, 381),
    (398, 382),
)
# The crease above each upper lid follows it half way, so a closed lid is skin, not a fold.
EYELID_CREASE: tuple[tuple[int, int], ...] = (
    (247, 246),
    (30, 161),
    (29, 160),
    (27, 159),
    (28, 158),
    (56, 157),
    (190, 173),
    (467, 466),
    (260, 388),
    (259, 387),
    (257, 386),
    (258, 385),
    (286, 384),
    (414, 398),
)

# Depth given to points that never move (outer ring, image border): behind everything.
_FAR = 1e6
_RING_POINTS = 28
_BORDER_STEP_PX = 80


@dataclass(frozen=True)
class HeadPose:
    """A head pose relative to the photo: rotation about a neck pivot, then a 2D shift, in pixels.

    ``yaw_deg > 0`` turns the nose toward +x of the image and ``pitch_deg > 0`` toward +y,
    the sign convention of ``processors.landmarks.head_pose``. ``eyes_closed`` goes from
    0 (as photographed) to 1 (upper lids on the lower lids).
    """

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    dx_px: float = 0.0
    dy_px: float = 0.0
    eyes_closed: float = 0.0


class HeadWarper:
    """Renders one photo's face at other head poses; the background around the face stays put.

    The source points are the 468 FaceMesh landmarks, an inner ring around the face
    (hair, ears, neck: it follows the head, less than the face), an outer ring
    and the image border (both fixed). Their Delaunay triangulation is computed once,
    on the source positions; each pose moves the landmarks in 3D and maps every
    triangle by its own affine transform. The triangles are rasterised far to near
    into an index image, so the near side of a turned face covers the far side, and
    one ``cv2.remap`` applies all the affine maps at once: the same piecewise-affine
    warp as one ``warpAffine`` per triangle, without the seams between triangles.
    """

    def __init__(self, image: np.ndarray, mesh: np.ndarray, *, pivot_depth: float = 0.6) -> None:
        if mesh.shape != (468, 3):
            raise ValueError(f"expected a (468, 3) FaceMesh in pixels, got {mesh.shape}")
        self.image = image
        self.mesh = mesh.astype(np.float64)
        height, width = image.shape[:2]
        low, high = self.mesh[:, :2].min(axis=0), self.mesh[:, :2].max(axis=0)
        self.face_width = float(high[0] - low[0])
        centre = (low + high) / 2
        # A neck pivot: ~0.6 face widths behind the mean depth of the face (z grows away).
        self.pivot = np.array([centre[0], centre[1], self.mesh[:, 2].mean() + pivot_depth * self.face_width])
        inner = _ring(centre, (high - low) * 0.5 * np.array([1.3, 1.25]), width, height)
        outer = _ring(centre, (high - low) * 0.5 * np.array([2.1, 1.9]), width, height)
        border = _border(width, height)
        self._inner = slice(468, 468 + len(inner))
        self.source = np.vstack([self.mesh[:, :2], inner, outer, border])
        self.triangles = Delaunay(self.source).simplices
        self._grid = np.mgrid[0:height, 0:width].astype(np.float32)

    def project(self, pose: HeadPose) -> np.ndarray:
        """The (468, 3) landmarks at ``pose``, in pixels of the rendered image (orthographic camera)."""
        points = self.mesh.copy()
        if pose.eyes_closed:
            _close_eyes(points, pose.eyes_closed)
        rotated = (points - self.pivot) @ _rotation(pose.yaw_deg, pose.pitch_deg).T + self.pivot
        rotated[:, 0] += pose.dx_px
        rotated[:, 1] += pose.dy_px
        return rotated

    def render(self, pose: HeadPose) -> np.ndarray:
        """The photo with the face moved to ``pose``."""
        moved = self.project(pose)
        target = self.source.copy()
        target[:468] = moved[:, :2]
        target[self._inner], inner_depth = self._move_inner(pose)
        depth = np.full(len(target), _FAR)
        depth[:468] = moved[:, 2]
        depth[self._inner] = inner_depth
        return self._remap(target, depth)

    def _move_inner(self, pose: HeadPose) -> tuple[np.ndarray, np.ndarray]:
        """The inner ring turns with the head as points half way between the face and the pivot.

        Hair and ears follow the head, but less than the face does, which spreads the
        stretch a photo cannot avoid (it never saw the side of the head) over the face
        edge and the background rather than smearing the cheek alone.
        """
        ring = self.source[self._inner]
        points = np.column_stack([ring, np.full(len(ring), self.pivot[2] - 0.3 * self.face_width)])
        rotated = (points - self.pivot) @ _rotation(pose.yaw_deg, pose.pitch_deg).T + self.pivot
        return rotated[:, :2] + (pose.dx_px, pose.dy_px), rotated[:, 2]

    def _remap(self, target: np.ndarray, depth: np.ndarray) -> np.ndarray:
        height, width = self.image.shape[:2]
        index = np.full((height, width), -1, dtype=np.int32)
        inverse = np.zeros((len(self.triangles), 6), dtype=np.float64)
        for t in np.argsort(-depth[self.triangles].mean(axis=1), kind="stable"):
            corners = self.triangles[t]
            dst = target[corners].astype(np.float32)
            if abs(_signed_area(dst)) < 0.5:
                continue  # a collapsed triangle (a closed eyelid, a far cheek edge-on) shows nothing
            inverse[t] = cv2.getAffineTransform(dst, self.source[corners].astype(np.float32)).ravel()
            # 4 fractional bits: triangle edges follow the landmarks to 1/16 px.
            cv2.fillConvexPoly(index, np.round(dst * 16).astype(np.int32), int(t), cv2.LINE_8, 4)
        ys, xs = self._grid
        covered = index >= 0
        coefficients = inverse[np.where(covered, index, 0)]
        map_x = np.where(
            covered, coefficients[..., 0] * xs + coefficients[..., 1] * ys + coefficients[..., 2], xs
        )
        map_y = np.where(
            covered, coefficients[..., 3] * xs + coefficients[..., 4] * ys + coefficients[..., 5], ys
        )
        return cv2.remap(
            self.image,
            map_x.astype(np.float32),
            map_y.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )


def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Yaw about the image's vertical axis, then pitch about its horizontal axis (x right, y down, z away)."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    # Positive yaw brings a point in front of the pivot (z < 0) toward +x.
    about_y = np.array([[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0], [math.sin(yaw), 0, math.cos(yaw)]])
    # Positive pitch brings it toward +y.
    about_x = np.array(
        [[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]]
    )
    return about_x @ about_y


def _close_eyes(points: np.ndarray, amount: float) -> None:
    upper, lower = (list(side) for side in zip(*EYELID_PAIRS, strict=True))
    travel = amount * (points[lower] - points[upper])
    points[upper] += travel
    crease, lid = (list(side) for side in zip(*EYELID_CREASE, strict=True))
    positions = {index: position for position, index in enumerate(upper)}
    points[crease] += 0.5 * travel[[positions[i] for i in lid]]


def _ring(centre: np.ndarray, radii: np.ndarray, width: int, height: int) -> np.ndarray:
    """Points on an ellipse around the face, kept a few pixels inside the image."""
    angles = np.linspace(0, 2 * np.pi, _RING_POINTS, endpoint=False)
    points = centre + radii * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points = np.clip(points, 2, (width - 3, height - 3))
    return np.unique(np.round(points, 1), axis=0)


def _border(width: int, height: int) -> np.ndarray:
    """Points along the image border, corners included, so the triangulation covers every pixel."""
    xs = np.unique(np.append(np.arange(0, width, _BORDER_STEP_PX), width - 1))
    ys = np.unique(np.append(np.arange(0, height, _BORDER_STEP_PX), height - 1))
    top = [(x, 0) for x in xs] + [(x, height - 1) for x in xs]
    sides = [(0, y) for y in ys[1:-1]] + [(width - 1, y) for y in ys[1:-1]]
    return np.asarray(top + sides, dtype=np.float64)


def _signed_area(triangle: np.ndarray) -> float:
    (x0, y0), (x1, y1), (x2, y2) = triangle
    return float((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)) / 2
