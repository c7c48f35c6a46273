"""Non-planarity and rotation on REAL landmarks: a photo's motion is a homography, a head's is not.

Every mesh here is MediaPipe FaceMesh's output on a real photo; the planar
cases map its 2D landmarks by a homography (what any motion of a flat picture
does), the genuine cases rotate its 3D landmarks about an axis behind the face.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from real_faces import (
    PEOPLE,
    face,
    mapped,
    pitched,
    real_mesh,
    rolled,
    scaled,
    tilted,
    translated,
    turned,
)

from processors.landmarks import head_pose
from verifier.checks import nonplanarity, nonplanarity_check, rotation_toward
from verifier.settings import VerifierSettings

SETTINGS = VerifierSettings()
RIGHT, LEFT, DOWN = (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0)


def _generic_homography() -> np.ndarray:
    """Scale, roll, shear, translation and a perspective term at once, about the face centre."""
    t = math.radians(12)
    centre = np.array([[1, 0, -320], [0, 1, -250], [0, 0, 1]], dtype=float)
    affine = np.array(
        [[1.1 * math.cos(t), -math.sin(t) + 0.05, 0], [math.sin(t), 0.95 * math.cos(t), 0], [0, 0, 1]]
    )
    perspective = np.array([[1, 0, 0], [0, 1, 0], [3e-4, -2e-4, 1]])
    back = np.array([[1, 0, 340], [0, 1, 235], [0, 0, 1]], dtype=float)
    return back @ perspective @ affine @ centre


PLANAR_MOTIONS = {
    "translated": lambda m: translated(m, 55.0, -18.0),
    "translated-and-scaled": lambda m: scaled(translated(m, 30.0, 12.0), 1.15),
    "rolled-20": lambda m: rolled(m, 20.0),
    "rolled-minus-12-and-moved": lambda m: translated(rolled(m, -12.0), 20.0, 5.0),
    "tilted-15": lambda m: tilted(m, 15.0),
    "tilted-25": lambda m: tilted(m, 25.0),
    "tilted-35": lambda m: tilted(m, 35.0),
    "tilted-minus-30-and-moved": lambda m: translated(tilted(m, -30.0), 45.0, 10.0),
    "generic-homography": lambda m: mapped(m, _generic_homography()),
}


@pytest.mark.parametrize("motion", PLANAR_MOTIONS.values(), ids=PLANAR_MOTIONS.keys())
@pytest.mark.parametrize("person", PEOPLE)
def test_nonplanarity_homography_of_real_landmarks_below_threshold(person: str, motion) -> None:
    mesh = real_mesh(person)

    value = nonplanarity(face(mesh), face(motion(mesh)))

    assert value < SETTINGS.min_nonplanarity
    assert not nonplanarity_check(face(mesh), face(motion(mesh)), SETTINGS.min_nonplanarity).passed


@pytest.mark.parametrize("yaw_deg", [15.0, 20.0, 25.0, -15.0, -20.0, -25.0])
@pytest.mark.parametrize("person", PEOPLE)
def test_nonplanarity_3d_turn_of_real_landmarks_above_threshold(person: str, yaw_deg: float) -> None:
    mesh = real_mesh(person)

    value = nonplanarity(face(mesh), face(turned(mesh, yaw_deg)))

    assert value > SETTINGS.min_nonplanarity
    assert nonplanarity_check(face(mesh), face(turned(mesh, yaw_deg)), SETTINGS.min_nonplanarity).passed


@pytest.mark.parametrize("person", PEOPLE)
def test_nonplanarity_3d_turn_then_moved_still_above_threshold(person: str) -> None:
    mesh = real_mesh(person)
    moved = scaled(translated(turned(mesh, 20.0), 25.0, -10.0), 0.9)

    assert nonplanarity(face(mesh), face(moved)) > SETTINGS.min_nonplanarity


@pytest.mark.parametrize("pitch_deg", [15.0, -15.0])
def test_nonplanarity_3d_nod_of_real_landmarks_above_threshold(pitch_deg: float) -> None:
    mesh = real_mesh()

    assert nonplanarity(face(mesh), face(pitched(mesh, pitch_deg))) > SETTINGS.min_nonplanarity


def test_nonplanarity_grows_with_the_turn() -> None:
    mesh = real_mesh()

    values = [nonplanarity(face(mesh), face(turned(mesh, yaw))) for yaw in (0.0, 5.0, 15.0, 25.0)]

    assert values == sorted(values)
    assert values[0] < SETTINGS.min_nonplanarity / 10


@pytest.mark.parametrize("yaw_deg", [15.0, 20.0, 25.0, -15.0, -20.0, -25.0])
@pytest.mark.parametrize("person", PEOPLE)
def test_rotation_toward_real_turn_has_sign_of_recomputed_yaw(person: str, yaw_deg: float) -> None:
    mesh = real_mesh(person)
    after = turned(mesh, yaw_deg)
    recomputed = head_pose(after)[0] - head_pose(mesh)[0]

    toward_right = rotation_toward(face(mesh), face(after), RIGHT)
    toward_left = rotation_toward(face(mesh), face(after), LEFT)

    assert math.copysign(1.0, recomputed) == math.copysign(1.0, yaw_deg)
    assert toward_right == pytest.approx(recomputed, abs=0.05)
    assert toward_left == pytest.approx(-recomputed, abs=0.05)
    assert abs(toward_right) == pytest.approx(abs(yaw_deg), abs=1.5)


def test_rotation_toward_real_nod_points_down_for_positive_pitch() -> None:
    mesh = real_mesh()
    after = pitched(mesh, 15.0)

    toward_down = rotation_toward(face(mesh), face(after), DOWN)

    assert toward_down == pytest.approx(head_pose(after)[1] - head_pose(mesh)[1], abs=0.05)
    assert toward_down > 10.0
    assert abs(rotation_toward(face(mesh), face(after), RIGHT)) < 1.0


@pytest.mark.parametrize("motion", ["translated", "translated-and-scaled", "rolled-20"])
def test_rotation_toward_planar_motion_is_near_zero(motion: str) -> None:
    mesh = real_mesh()

    toward = rotation_toward(face(mesh), face(PLANAR_MOTIONS[motion](mesh)), RIGHT)

    assert abs(toward) < SETTINGS.min_rotation_deg / 4
