"""Shape continuity: a moved, turned face keeps its shape; another face does not."""

from __future__ import annotations

import numpy as np

from evaluation.diagnostics import RIGID_LANDMARKS, shape_jump, similarity_residual
from schemas.events import LANDMARK_SUBSET, Box, Face


def face_from(points: dict[int, np.ndarray]) -> Face:
    values = np.array([points[index] for index in LANDMARK_SUBSET], dtype=float)
    low, high = values[:, :2].min(axis=0), values[:, :2].max(axis=0)
    box = Box(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))
    nose = (float(points[1][0]), float(points[1][1]))
    return Face(box, nose, 0.0, 0.0, 0.0, tuple(values.ravel()))


def random_head(seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {index: rng.uniform(-100, 100, 3) + (320, 240, 0) for index in LANDMARK_SUBSET}


def moved(
    points: dict[int, np.ndarray], yaw_deg: float, scale: float, shift: tuple[float, float]
) -> dict[int, np.ndarray]:
    yaw = np.radians(yaw_deg)
    rotation = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    centre = np.array([320.0, 240.0, 0.0])
    return {i: (p - centre) @ rotation.T * scale + centre + (*shift, 0) for i, p in points.items()}


def test_similarity_residual_scaled_rotated_copy_is_zero() -> None:
    points = np.random.default_rng(0).uniform(0, 100, (20, 2))
    angle = np.radians(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    assert similarity_residual(points, points @ rotation.T * 1.7 + 40) < 1e-9


def test_shape_jump_3d_turned_and_moved_head_is_zero() -> None:
    head = random_head(1)

    assert shape_jump(face_from(head), face_from(moved(head, 20, 1.1, (30, -5))), 3) < 1e-9


def test_shape_jump_3d_another_head_is_large() -> None:
    assert shape_jump(face_from(random_head(1)), face_from(random_head(2)), 3) > 0.1


def test_shape_jump_2d_turned_head_is_not_zero() -> None:
    head = random_head(1)

    assert shape_jump(face_from(head), face_from(moved(head, 20, 1.0, (0, 0))), 2) > 0.01


def test_rigid_landmarks_are_all_sent_to_the_verifier() -> None:
    assert set(RIGID_LANDMARKS) <= set(LANDMARK_SUBSET)
