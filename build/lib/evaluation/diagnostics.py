"""Measures the verifier does not take (yet), computed from the observations of the frames it used."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from processors.landmarks import FaceAnalyzer, FrameAnalysis
from schemas.events import Face
from verifier.checks import face_size

# Landmarks that move with the skull, not with expressions: nose, forehead and chin,
# eye corners, face sides, cheeks, jaw. Eyelids, brows and lips are left out, so a
# blink or a smile does not read as another face.
RIGID_LANDMARKS = (
    *(1, 4, 5, 6, 195, 197, 168, 2, 98, 327),
    *(10, 151, 9, 152, 175),
    *(33, 133, 362, 263),
    *(234, 454, 127, 356, 93, 323),
    *(50, 280, 123, 352),
    *(172, 397, 136, 365, 58, 288),
)


class TappedAnalyzer:
    """A ``FaceAnalyzer`` stand-in that keeps every analysis it returns, in order.

    Passed to ``replay_offline``, it lets the evaluation see the frames the verifier
    saw (up to its decision) without analysing any frame twice.
    """

    def __init__(self, analyzer: FaceAnalyzer) -> None:
        self._analyzer = analyzer
        self.analyses: list[FrameAnalysis | None] = []  # None: the frame could not be analysed

    def analyse_jpeg(self, data: bytes) -> FrameAnalysis:
        try:
            analysis = self._analyzer.analyse_jpeg(data)
        except Exception:
            self.analyses.append(None)
            raise
        self.analyses.append(analysis)
        return analysis


def rigid_points(face: Face, dimensions: int = 2) -> np.ndarray:
    return np.asarray([face.point(index)[:dimensions] for index in RIGID_LANDMARKS], dtype=np.float64)


def similarity_residual(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance left after the best similarity (shift, rotation, scale) maps ``b`` onto ``a``."""
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    u, singular, vt = np.linalg.svd(b.T @ a)
    if np.linalg.det(u @ vt) < 0:  # no mirror images: a face seen in a mirror is another shape
        u[:, -1] *= -1
        singular[-1] *= -1
    scale = singular.sum() / max(float((b**2).sum()), 1e-9)
    residual = a - scale * b @ (u @ vt)
    return float(np.sqrt((residual**2).sum(axis=1).mean()))


def shape_jump(previous: Face, current: Face, dimensions: int = 2) -> float:
    """How much the face's shape changed between two frames, over its size.

    In 2D, a head turning changes its projected proportions; in 3D (FaceMesh's
    x, y and relative z) a turn is itself a similarity, so what is left is the
    change of shape: noise for one person, the difference of faces for a cut.
    """
    residual = similarity_residual(rigid_points(previous, dimensions), rigid_points(current, dimensions))
    return residual / max(face_size(previous), 1.0)


def _faces(analyses: Sequence[FrameAnalysis | None]) -> list[Face]:
    return [a.faces[0] for a in analyses if a is not None and len(a.faces) == 1]


def max_shape_jump(analyses: Sequence[FrameAnalysis | None], dimensions: int = 2) -> float | None:
    """The largest shape jump between consecutive frames that show one face."""
    faces = _faces(analyses)
    jumps = [shape_jump(p, c, dimensions) for p, c in zip(faces, faces[1:], strict=False)]
    return max(jumps) if jumps else None


def shape_drift(analyses: Sequence[FrameAnalysis | None]) -> float | None:
    """The 3D shape change from the first face to the last: same person, or not."""
    faces = _faces(analyses)
    return shape_jump(faces[0], faces[-1], 3) if len(faces) >= 2 else None


def diagnostics(analyses: Sequence[FrameAnalysis | None]) -> dict[str, float | None]:
    values = {
        "rigid_shape_jump_2d": max_shape_jump(analyses),
        "rigid_shape_jump_3d": max_shape_jump(analyses, 3),
        "shape_drift_3d": shape_drift(analyses),
    }
    return {name: None if value is None else round(value, 5) for name, value in values.items()}
