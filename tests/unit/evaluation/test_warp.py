"""The mesh warp moves a real face as commanded: FaceMesh finds the nose where it was sent and the turn."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from devtools.media import fetch_media
from evaluation.scene import FacePhoto, Scene, load_face_photos, place
from evaluation.warp import EYELID_PAIRS, NOSE_TIP, HeadPose, HeadWarper
from processors.landmarks import FaceAnalyzer, head_pose


@pytest.fixture(scope="module")
def analyzer() -> Iterator[FaceAnalyzer]:
    with FaceAnalyzer() as face_analyzer:
        yield face_analyzer


@pytest.fixture(scope="module")
def photo(analyzer: FaceAnalyzer) -> FacePhoto:
    photos = load_face_photos(fetch_media(), analyzer)
    return next(p for p in photos if p.name == "obama4_crop.jpg")


@pytest.fixture(scope="module")
def scene(photo: FacePhoto, analyzer: FaceAnalyzer) -> Scene:
    return place(photo, analyzer, np.random.default_rng(3), fill=0.42)


@pytest.fixture(scope="module")
def warper(scene: Scene) -> HeadWarper:
    return HeadWarper(scene.frame, scene.mesh)


def seen(analyzer: FaceAnalyzer, image: np.ndarray) -> np.ndarray:
    meshes = analyzer.mesh_points(image)
    assert len(meshes) == 1
    return meshes[0]


@pytest.mark.parametrize(
    "pose", [HeadPose(20, 0), HeadPose(-20, 0), HeadPose(15, 6, 10, -5), HeadPose(-25, -5)]
)
def test_render_turned_head_facemesh_finds_nose_near_projected_nose(
    warper: HeadWarper, analyzer: FaceAnalyzer, pose: HeadPose
) -> None:
    projected = warper.project(pose)[NOSE_TIP, :2]

    found = seen(analyzer, warper.render(pose))[NOSE_TIP, :2]

    assert np.linalg.norm(found - projected) < 0.05 * warper.face_width


@pytest.mark.parametrize("yaw_deg", [15.0, 25.0, -15.0, -25.0])
def test_render_yaw_facemesh_reads_a_turn_of_the_same_sign(
    warper: HeadWarper, analyzer: FaceAnalyzer, scene: Scene, yaw_deg: float
) -> None:
    before = head_pose(scene.mesh)[0]

    after = head_pose(seen(analyzer, warper.render(HeadPose(yaw_deg=yaw_deg))))[0]

    assert math.copysign(1, after - before) == math.copysign(1, yaw_deg)
    assert abs(after - before) > 0.4 * abs(yaw_deg)  # FaceMesh reads a warped turn ~0.6-0.9x


def test_render_pitch_down_facemesh_reads_nose_lower(
    warper: HeadWarper, analyzer: FaceAnalyzer, scene: Scene
) -> None:
    nose_before = scene.mesh[NOSE_TIP, 1]

    nose_after = seen(analyzer, warper.render(HeadPose(pitch_deg=10)))[NOSE_TIP, 1]

    assert nose_after > nose_before + 0.05 * warper.face_width


def test_project_positive_yaw_moves_nose_right_and_right_eye_corner_back(warper: HeadWarper) -> None:
    still, turned = warper.project(HeadPose()), warper.project(HeadPose(yaw_deg=20))

    assert turned[NOSE_TIP, 0] > still[NOSE_TIP, 0] + 0.1 * warper.face_width
    assert head_pose(turned)[0] > head_pose(still)[0] + 15  # the mesh itself turned ~20 deg


def test_project_shift_moves_every_landmark(warper: HeadWarper) -> None:
    moved = warper.project(HeadPose(dx_px=12, dy_px=-7)) - warper.project(HeadPose())

    assert np.allclose(moved[:, :2], (12, -7))


def test_render_identity_pose_leaves_image_unchanged(warper: HeadWarper, scene: Scene) -> None:
    difference = np.abs(warper.render(HeadPose()).astype(int) - scene.frame.astype(int))

    assert difference.mean() < 1.0


def test_render_keeps_background_far_from_face(warper: HeadWarper, scene: Scene) -> None:
    rendered = warper.render(HeadPose(yaw_deg=25, dx_px=15))

    assert np.array_equal(rendered[:40, :40], scene.frame[:40, :40])


def test_project_eyes_closed_puts_upper_lids_on_lower_lids(warper: HeadWarper) -> None:
    closed = warper.project(HeadPose(eyes_closed=1.0))

    for upper, lower in EYELID_PAIRS:
        assert np.allclose(closed[upper], closed[lower])


def test_render_eyes_closed_facemesh_reads_narrower_eyes(
    warper: HeadWarper, analyzer: FaceAnalyzer, scene: Scene
) -> None:
    def opening(mesh: np.ndarray) -> float:
        return float(np.mean([np.linalg.norm(mesh[u, :2] - mesh[lo, :2]) for u, lo in EYELID_PAIRS]))

    closed = seen(analyzer, warper.render(HeadPose(eyes_closed=1.0)))

    # FaceMesh without refined landmarks reads a warped closed eye only 15-35% narrower:
    # enough to see the lids move, not yet a blink for the blink challenge's 40% drop.
    assert opening(closed) < 0.9 * opening(scene.mesh)


def test_render_costs_tens_of_milliseconds(warper: HeadWarper) -> None:
    import time

    started = time.perf_counter()
    for yaw in (5, 10, 15):
        warper.render(HeadPose(yaw_deg=yaw))

    assert (time.perf_counter() - started) / 3 < 0.25  # ~25 ms here; generous for a busy CI
