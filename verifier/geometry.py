"""Pure geometry behind the checks: homography residual, trajectory fit, eye aspect ratio."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul

import numpy as np

# Eye landmarks of the eye-aspect-ratio (Soukupova & Cech, 2016): corners p1/p4,
# upper lid p2/p3, lower lid p6/p5.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)


def _normalising_transform(points: np.ndarray) -> np.ndarray:
    """Hartley normalisation: centroid at the origin, mean distance sqrt(2)."""
    centre = points.mean(axis=0)
    spread = np.sqrt(((points - centre) ** 2).sum(axis=1)).mean()
    scale = np.sqrt(2) / spread if spread > 1e-9 else 1.0
    return np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]])


def _inverse_normalising(t: np.ndarray) -> np.ndarray:
    """The inverse of a ``_normalising_transform``, in closed form (a general 3x3 inverse costs more)."""
    scale = t[0, 0]
    return np.array([[1 / scale, 0, -t[0, 2] / scale], [0, 1 / scale, -t[1, 2] / scale], [0, 0, 1]])


def fit_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares homography (normalised DLT) mapping ``src`` (N, 2) onto ``dst`` (N, 2)."""
    if len(src) < 4 or src.shape != dst.shape:
        raise ValueError("a homography needs at least 4 matching points")
    t_src, t_dst = _normalising_transform(src), _normalising_transform(dst)
    ones = np.ones((len(src), 1))
    s = (t_src @ np.hstack([src, ones]).T).T
    d = (t_dst @ np.hstack([dst, ones]).T).T
    zeros = np.zeros((len(src), 3))
    u, v = d[:, :1], d[:, 1:2]
    rows = np.vstack([np.hstack([-s, zeros, u * s]), np.hstack([zeros, -s, v * s])])
    # The smallest eigenvector of the 9x9 normal matrix: the same solution as the SVD of
    # the 2Nx9 system, at a fraction of the cost on the per-session hot path.
    _, vectors = np.linalg.eigh(rows.T @ rows)
    h_normalised = vectors[:, 0].reshape(3, 3)
    h = _inverse_normalising(t_dst) @ h_normalised @ t_src
    return h / h[2, 2] if abs(h[2, 2]) > 1e-12 else h


def project(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    homogeneous = np.hstack([points, np.ones((len(points), 1))]) @ h.T
    w = homogeneous[:, 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    return homogeneous[:, :2] / w


def homography_residual(src: np.ndarray, dst: np.ndarray, face_size: float) -> float:
    """RMS distance left after the best homography maps ``src`` onto ``dst``, over ``face_size``.

    Landmarks of a flat picture, however it is moved, scaled, rolled or tilted,
    are related by a homography and leave only detection noise here; a head that
    turns moves the nose against the cheeks and leaves a clear residual.
    """
    h = fit_homography(src, dst)
    error = project(h, src) - dst
    rms = float(np.sqrt((error**2).sum(axis=1).mean()))
    return rms / face_size if face_size > 0 else float("inf")


def quadratic_fit_rms(xs: np.ndarray, ys: np.ndarray) -> float:
    """RMS residual of ``y = a x^2 + b x + c`` through the points (0 for three or fewer)."""
    if len(xs) <= 3 or float(np.ptp(xs)) < 1e-9:
        return 0.0
    coefficients = np.polyfit(xs, ys, 2)
    residual = np.polyval(coefficients, xs) - ys
    return float(np.sqrt((residual**2).mean()))


def eye_aspect_ratio(points: dict[int, tuple[float, float, float]]) -> float:
    """Mean eye-aspect-ratio of both eyes: ~0.25-0.35 open, under ~0.15 closed."""

    def one(eye: tuple[int, ...]) -> float:
        p1, p2, p3, p4, p5, p6 = (np.asarray(points[i][:2]) for i in eye)
        width = np.linalg.norm(p1 - p4)
        if width < 1e-9:
            return 0.0
        return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2 * width))

    return (one(RIGHT_EYE) + one(LEFT_EYE)) / 2


def similarity_residual(src: np.ndarray, dst: np.ndarray) -> float:
    """RMS distance left after the best similarity (shift, rotation, scale) maps ``src`` onto ``dst``.

    Between two frames of one head this is small even while it turns; between two
    different faces (a splice of two recordings) the proportions themselves differ.
    ``src`` and ``dst`` are (N, 2) point arrays; see ``similarity_residual_flat``.
    """
    flat_src = np.asarray(src, dtype=float).ravel().tolist()
    return similarity_residual_flat(flat_src, np.asarray(dst, dtype=float).ravel().tolist())


def similarity_residual_flat(src: Sequence[float], dst: Sequence[float]) -> float:
    """``similarity_residual`` of points given flat, ``[x0, y0, x1, y1, ...]``, in plain Python.

    The shape-continuity check runs this three times a frame on a few dozen points, where
    numpy's per-call overhead costs more than the arithmetic. In complex numbers (a = x + iy,
    centred) the best similarity is one coefficient s = <a, b> / <a, a>, and the residual's
    sum of squares is |b|^2 - |<a, b>|^2 / |a|^2: four dot products, each one C loop.
    """
    if len(src) // 2 == 0 or len(dst) != len(src):
        raise ValueError("a similarity needs two equally long, non-empty point lists")
    return similarity_residual_centred(centred_points(src), centred_points(dst))


@dataclass(frozen=True, slots=True)
class CentredPoints:
    """Flat points moved to their centroid, with their sum of squares: one side of a similarity fit.

    Apart so that a frame compared with several others is centred once (the shape-continuity
    check compares each frame in up to six pairs); the residual is the same to the last bit.
    """

    xs: list[float]
    ys: list[float]
    squares: float
    count: int


def centred_points(flat: Sequence[float]) -> CentredPoints:
    """``[x0, y0, x1, y1, ...]`` centred on their centroid (see ``similarity_residual_flat``)."""
    n = len(flat) // 2
    xs, ys = flat[0::2], flat[1::2]
    # Centred first: the sums of squares of raw pixel coordinates would cancel away digits.
    cx, cy = sum(xs) / n, sum(ys) / n
    xs = [x - cx for x in xs]
    ys = [y - cy for y in ys]
    return CentredPoints(xs, ys, sum(map(mul, xs, xs)) + sum(map(mul, ys, ys)), n)


def similarity_residual_centred(src: CentredPoints, dst: CentredPoints) -> float:
    """``similarity_residual_flat`` of two centred point sets: the cross terms are all that is left."""
    if src.count == 0 or dst.count != src.count or len(dst.xs) != len(src.xs):
        raise ValueError("a similarity needs two equally long, non-empty point lists")
    if src.squares < 1e-12:
        return 0.0
    ax, ay, bx, by = src.xs, src.ys, dst.xs, dst.ys
    re = sum(map(mul, ax, bx)) + sum(map(mul, ay, by))
    im = sum(map(mul, ax, by)) - sum(map(mul, ay, bx))
    squares = dst.squares - (re * re + im * im) / src.squares
    return math.sqrt(max(squares, 0.0) / src.count)  # rounding can leave a tiny negative for a perfect fit
