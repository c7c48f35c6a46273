"""Named checks shared by the challenges: rotation toward a direction and non-planarity."""

from __future__ import annotations

import numpy as np

from schemas.events import LANDMARK_SUBSET, Check, Face
from verifier.geometry import homography_residual, similarity_residual


def face_size(face: Face) -> float:
    """A size for normalising distances: the geometric mean of the face box sides."""
    return float(np.sqrt(face.box.width * face.box.height))


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


def shape_change(previous: Face, current: Face) -> float:
    """How much the face's proportions changed between two frames, over the mean face size."""
    size = (face_size(previous) + face_size(current)) / 2
    return similarity_residual(landmarks_xy(previous), landmarks_xy(current)) / size if size > 0 else 0.0
