"""The pure geometry under the checks: homography fit, trajectory fit, eye aspect ratio."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from real_faces import PEOPLE, closed_eyes, face, framed, real_mesh, rolled, scaled, translated, turned

from verifier.challenges.blink import face_eye_ratio
from verifier.checks import (
    as_shape_signature,
    landmarks_xy,
    persistent_shape_jump,
    shape_distance,
    shape_signature,
)
from verifier.geometry import (
    LEFT_EYE,
    RIGHT_EYE,
    eye_aspect_ratio,
    fit_homography,
    homography_residual,
    project,
    quadratic_fit_rms,
    similarity_residual,
    similarity_residual_flat,
)

# ---- homography ---------------------------------------------------------------------------------


def test_fit_homography_recovers_known_map_of_real_landmarks() -> None:
    points = real_mesh()[:, :2]
    known = np.array([[0.9, 0.1, 30.0], [-0.05, 1.1, -12.0], [2e-4, -1e-4, 1.0]])
    moved = project(known, points)

    fitted = fit_homography(points, moved)

    assert fitted / fitted[2, 2] == pytest.approx(known, rel=1e-6, abs=1e-9)
    assert homography_residual(points, moved, 170.0) < 1e-9


@pytest.mark.parametrize("count", [0, 1, 3])
def test_fit_homography_fewer_than_four_points_raises_value_error(count: int) -> None:
    points = real_mesh()[:count, :2]

    with pytest.raises(ValueError, match="4"):
        fit_homography(points, points)


def test_fit_homography_mismatched_shapes_raises_value_error() -> None:
    points = real_mesh()[:, :2]

    with pytest.raises(ValueError):
        fit_homography(points, points[:-1])


def test_homography_residual_zero_face_size_is_infinite() -> None:
    points = real_mesh()[:, :2]

    assert homography_residual(points, points + 1.0, 0.0) == float("inf")


# ---- quadratic trajectory fit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("xs", "ys"),
    [
        ([], []),
        ([0.5], [0.5]),
        ([0.5, 0.6], [0.5, 0.4]),
        ([0.5, 0.6, 0.55], [0.5, 0.1, 0.9]),  # three points always fit a parabola exactly
        ([0.5, 0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5]),  # no horizontal motion: no fit
    ],
    ids=["none", "one", "two", "three-wild", "vertical"],
)
def test_quadratic_fit_rms_degenerate_input_is_zero(xs: list[float], ys: list[float]) -> None:
    assert quadratic_fit_rms(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)) == 0.0


def test_quadratic_fit_rms_exact_parabola_is_zero() -> None:
    xs = np.linspace(0.5, 0.62, 10)

    assert quadratic_fit_rms(xs, 3 * xs**2 - 2 * xs + 0.4) < 1e-12


def test_quadratic_fit_rms_zigzag_is_large() -> None:
    xs = np.linspace(0.5, 0.62, 10)
    ys = 0.5 + 0.05 * np.array([1, -1] * 5)

    assert quadratic_fit_rms(xs, ys) > 0.04


# ---- eye aspect ratio ---------------------------------------------------------------------------


@pytest.mark.parametrize("person", PEOPLE)
def test_eye_aspect_ratio_drops_when_upper_lids_moved_onto_lower_lids(person: str) -> None:
    mesh = real_mesh(person)

    open_ratio = face_eye_ratio(face(mesh))
    half_ratio = face_eye_ratio(face(closed_eyes(mesh, 0.5)))
    shut_ratio = face_eye_ratio(face(closed_eyes(mesh, 1.0)))

    assert 0.15 < open_ratio < 0.45
    assert half_ratio == pytest.approx(open_ratio / 2, rel=0.15)
    assert shut_ratio < 0.1 * open_ratio


def test_eye_aspect_ratio_of_mesh_points_matches_face_subset() -> None:
    mesh = real_mesh()
    points = {index: tuple(mesh[index]) for index in (*RIGHT_EYE, *LEFT_EYE)}

    assert eye_aspect_ratio(points) == pytest.approx(face_eye_ratio(face(mesh)), abs=0.01)


def test_eye_aspect_ratio_collapsed_eye_is_zero_not_an_error() -> None:
    points = {index: (100.0, 100.0, 0.0) for index in (*RIGHT_EYE, *LEFT_EYE)}

    assert eye_aspect_ratio(points) == 0.0


# ---- similarity residual (the splice check) -----------------------------------------------------


def _numpy_similarity_residual(src: np.ndarray, dst: np.ndarray) -> float:
    """The residual as numpy computes it in complex numbers: the reference for the plain-Python one."""
    src_centred, dst_centred = src - src.mean(axis=0), dst - dst.mean(axis=0)
    a = src_centred[:, 0] + 1j * src_centred[:, 1]
    b = dst_centred[:, 0] + 1j * dst_centred[:, 1]
    norm = np.vdot(a, a).real
    if norm < 1e-12:
        return 0.0
    return float(np.sqrt(np.mean(np.abs(np.vdot(a, b) / norm * a - b) ** 2)))


def _subset_xy(mesh: np.ndarray) -> np.ndarray:
    return landmarks_xy(face(framed(mesh)))


@pytest.mark.parametrize("other", PEOPLE)
@pytest.mark.parametrize(
    "move",
    [lambda m: m, lambda m: turned(m, 25.0), lambda m: rolled(scaled(translated(m, 14.0, -9.0), 1.3), 12.0)],
)
def test_similarity_residual_flat_equals_numpy_reference_on_real_faces(other: str, move) -> None:  # noqa: ANN001
    src, dst = _subset_xy(real_mesh(PEOPLE[0])), _subset_xy(move(real_mesh(other)))

    fast = similarity_residual_flat(src.ravel().tolist(), dst.ravel().tolist())

    assert fast == pytest.approx(_numpy_similarity_residual(src, dst), rel=1e-9, abs=1e-5)
    assert similarity_residual(src, dst) == fast


def test_similarity_residual_flat_of_similar_copy_is_zero_and_of_other_face_is_not() -> None:
    mesh = real_mesh()
    src = _subset_xy(mesh)
    angle = np.radians(20.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    copy = similarity_residual_flat(src.ravel().tolist(), (src @ rotation.T * 1.4 + 30).ravel().tolist())
    other = similarity_residual_flat(src.ravel().tolist(), _subset_xy(real_mesh(PEOPLE[1])).ravel().tolist())

    assert copy < 1e-5  # pixels: cancellation leaves a few micro-pixels of a perfect fit
    assert other > 1.0  # pixels: the proportions of two people differ


def test_shape_signature_is_face_size_then_interleaved_xy() -> None:
    f = face(framed(real_mesh()))

    signature = shape_signature(f)

    assert signature[0] == pytest.approx(float(np.sqrt(f.box.width * f.box.height)), rel=1e-15)
    assert signature[1:] == landmarks_xy(f).ravel().tolist()


def test_similarity_residual_flat_collapsed_points_is_zero() -> None:
    assert similarity_residual_flat([5.0, 5.0] * 10, [1.0, 2.0, 3.0, 4.0] * 5) == 0.0


@pytest.mark.parametrize(("src", "dst"), [([], []), ([1.0, 2.0], [1.0, 2.0, 3.0, 4.0])])
def test_similarity_residual_flat_bad_points_raise(src: list[float], dst: list[float]) -> None:
    with pytest.raises(ValueError):
        similarity_residual_flat(src, dst)


@pytest.mark.parametrize("other", PEOPLE)
def test_shape_distance_of_kept_signatures_equals_plain_lists_to_the_bit(other: str) -> None:
    first = shape_signature(face(framed(real_mesh(PEOPLE[0]))))
    second = shape_signature(face(framed(turned(real_mesh(other), 15.0))))
    plain = [list(first), list(second)]

    kept = [shape_distance(first, second), shape_distance(first, second), shape_distance(second, first)]

    assert kept == [shape_distance(*plain)] * 2 + [shape_distance(plain[1], plain[0])]
    assert orjson.loads(orjson.dumps([first])) == [plain[0]]  # a row stores it as a plain list
    assert as_shape_signature(plain[0]) == first and as_shape_signature(first) is first


def test_persistent_shape_jump_of_kept_signatures_equals_plain_lists_frame_by_frame() -> None:
    meshes = [turned(real_mesh(PEOPLE[0]), angle) for angle in (0.0, 4.0, 8.0, 12.0)]
    meshes += [turned(real_mesh(PEOPLE[1]), angle) for angle in (12.0, 16.0, 20.0)]  # a splice
    signatures = [shape_signature(face(framed(mesh))) for mesh in meshes]
    windows = [signatures[end - 4 : end] for end in range(4, len(signatures) + 1)]

    kept = [persistent_shape_jump(window) for window in windows]

    assert kept == [persistent_shape_jump([list(s) for s in window]) for window in windows]
    assert max(kept) > 2 * min(kept)  # the splice stands out, so the comparison is not of zeros
