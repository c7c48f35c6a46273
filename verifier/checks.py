"""Named checks shared by the challenges: rotation toward a direction and non-planarity."""

from __future__ import annotations

import math
import weakref

import numpy as np

from schemas.events import LANDMARK_SUBSET, Check, Face
from verifier.geometry import (
    CentredPoints,
    centred_points,
    homography_residual,
    similarity_residual_centred,
)


def face_size(face: Face) -> float:
    """A size for normalising distances: the geometric mean of the face box sides."""
    return math.sqrt(face.box.width * face.box.height)


def landmarks_xy(face: Face) -> np.ndarray:
    return np.asarray(face.landmarks, dtype=float).reshape(len(LANDMARK_SUBSET), 3)[:, :2]


def nonplanarity(reference: Face, final: Face) -> float:
    """Homography residual between two frames' landmarks, over the mean face size."""
    size = (face_size(reference) + face_size(final)) / 2
    return homography_residual(landmarks_xy(reference), landmarks_xy(final), size)


def nonplanarity_check(reference: Face, final: Face, minimum: float) -> Check:
    value = nonplanarity(reference, final)
    return Check("nonplanarity", round(value, 5), minimum, value >= minimum)


def rotation_toward(reference: Face, face: Face, direction: tuple[float, float]) -> float:
    """Degrees the head turned toward ``direction`` (unit x, y in the image) since the reference.

    Positive yaw points the nose toward +x and positive pitch toward +y, so the
    projection of the pose change on the target direction is the rotation toward it.
    """
    d_yaw = face.yaw_deg - reference.yaw_deg
    d_pitch = face.pitch_deg - reference.pitch_deg
    return d_yaw * direction[0] + d_pitch * direction[1]


class ShapeSignature(list[float]):
    """A shape signature (face size, then x, y of each landmark) that keeps what its comparisons reuse.

    It is stored and compared as the plain list it is (a row holds it as JSON). Kept beside
    it: its centred points, computed at its first comparison (each frame is compared in up
    to six pairs across four frames), and its distance from the signature two frames
    before it, which the next frame's window asks for again.
    """

    __slots__ = ("_centred", "_back2", "__weakref__")
    _centred: CentredPoints
    _back2: tuple[weakref.ref[ShapeSignature], float]

    def centred(self) -> CentredPoints:
        try:
            return self._centred
        except AttributeError:
            self._centred = centred_points(self[1:])
            return self._centred

    def distance_from(self, earlier: list[float]) -> float:
        """``shape_distance(earlier, self)``, remembered for the last ``earlier`` asked about."""
        try:
            ref, value = self._back2
            if ref() is earlier:
                return value
        except AttributeError:
            pass
        value = shape_distance(earlier, self)
        if isinstance(earlier, ShapeSignature):  # a weak reference: the memo keeps no frame alive
            self._back2 = (weakref.ref(earlier), value)
        return value


def shape_signature(face: Face) -> ShapeSignature:
    """What the shape-continuity check keeps of a frame: the face size, then the landmarks' x, y.

    All sent landmarks count, mouth and eyelids too: measured on real video, leaving the
    moving parts out made the check noisier (fewer points) without separating splices better.
    """
    xy = [0.0] * (2 * len(LANDMARK_SUBSET))
    xy[0::2], xy[1::2] = face.landmarks[0::3], face.landmarks[1::3]  # landmarks are x, y, z triples
    return ShapeSignature([face_size(face), *xy])


def as_shape_signature(values: list[float]) -> ShapeSignature:
    """A signature read back from a row (a plain list) as a ``ShapeSignature``; one already is stays."""
    return values if isinstance(values, ShapeSignature) else ShapeSignature(values)


def shape_distance(a: list[float], b: list[float]) -> float:
    """How much the proportions differ between two signatures, over their mean face size."""
    size = (a[0] + b[0]) / 2
    if size <= 0:
        return 0.0
    return similarity_residual_centred(_centred(a), _centred(b)) / size


def _centred(signature: list[float]) -> CentredPoints:
    return signature.centred() if isinstance(signature, ShapeSignature) else centred_points(signature[1:])


def persistent_shape_jump(window: list[list[float]]) -> float:
    """The change of proportions across the middle of four consecutive frames that did not undo itself.

    A splice of two recordings changes the face for good between frames k-1 and k,
    so every comparison across that boundary differs; a detection glitch on one
    frame is undone by the next, so comparing around the glitched frame does not.
    """
    before2, before, after, after2 = window[-4:]
    return min(shape_distance(before, after), _distance(before2, after), _distance(before, after2))


def _distance(earlier: list[float], later: list[float]) -> float:
    """Two frames apart: this frame's (earlier, later) is the next frame's (before2, after)."""
    if isinstance(later, ShapeSignature):
        return later.distance_from(earlier)
    return shape_distance(earlier, later)
