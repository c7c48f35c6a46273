"""Reference and audit images of a decided session: measure the frames it names, pick the reference. No Kafka.

The verifier names the frames worth keeping in its decision (``Decision.evidence``): the first
framed frame, the frame that reached each target of the challenge, the last framed frame (the
audit images), and the five framed frames whose pose (from the observations) looked most
straight at the camera. The reference image a backend matches against the user's ID document
is the sharpest frontal frame among all of them:

- frontal: one face, ``|yaw| <= FRONTAL_YAW_DEG`` and pitch within ``FRONTAL_PITCH_DEG`` of the
  session's median pitch (FaceMesh's pitch zero depends on face shape and camera height, so it
  is compared with the session's own frames, not with 0);
- sharpest: the variance of the Laplacian of the face box, resized to ``SHARPNESS_FACE_PX``
  high so a nearer face does not score higher for its size alone;
- no frontal frame (a failed session may have none): the most frontal one.

Measured on generated sessions (``docs/evidence.md``): the rule picks a frame with a median
|yaw| of a few degrees, where the first framed frame alone is often the blurriest (the user is
still moving into the box).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from processors.landmarks import FaceAnalyzer, decode_jpeg, face_from_mesh
from schemas.errors import LivenessError
from schemas.events import Box, Decision, Evidence

FRONTAL_YAW_DEG = 10.0
FRONTAL_PITCH_DEG = 10.0
SHARPNESS_FACE_PX = 160
# Record headers of every evidence record (values are UTF-8 text); the value is the JPEG.
ROLE_REFERENCE, ROLE_AUDIT = "reference", "audit"


@dataclass(frozen=True)
class FrameMeasure:
    """What the reference rule needs of one frame."""

    seq: int
    faces: int
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    sharpness: float = 0.0
    box: Box | None = None


@dataclass(frozen=True)
class EvidenceRecord:
    """One record for the evidence topic: key ``<session_id>/<seq>`` or ``<session_id>/reference``."""

    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def sharpness(image_bgr: NDArray[np.uint8], box: Box) -> float:
    """Variance of the Laplacian of the grey face box, scaled to a fixed height (higher is sharper)."""
    height, width = image_bgr.shape[:2]
    left, top = max(0, int(box.left)), max(0, int(box.top))
    right, bottom = min(width, int(box.left + box.width)), min(height, int(box.top + box.height))
    if right - left < 8 or bottom - top < 8:
        return 0.0
    grey = cv2.cvtColor(image_bgr[top:bottom, left:right], cv2.COLOR_BGR2GRAY)
    scale = SHARPNESS_FACE_PX / grey.shape[0]
    grey = cv2.resize(
        grey, (max(1, round(grey.shape[1] * scale)), SHARPNESS_FACE_PX), interpolation=cv2.INTER_AREA
    )
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def measure(
    analyzer: FaceAnalyzer, seq: int, jpeg: bytes, meshes: Sequence[NDArray[np.float64]] | None = None
) -> FrameMeasure:
    """Pose and sharpness of the one face of a frame (``faces`` says when there is not exactly one).

    ``meshes``: the landmarks the processor's own FaceMesh pass found in this frame, when it
    still holds them; FaceMesh runs in static-image mode, so a second run would find the same.
    """
    try:
        image = decode_jpeg(jpeg, analyzer.limits)
    except LivenessError:
        return FrameMeasure(seq, 0)
    if meshes is None:
        meshes = analyzer.mesh_points(image)
    if len(meshes) != 1:
        return FrameMeasure(seq, len(meshes))
    face = face_from_mesh(meshes[0])
    return FrameMeasure(seq, 1, face.yaw_deg, face.pitch_deg, sharpness(image, face.box), face.box)


def frontal_error_deg(frame: FrameMeasure, baseline_pitch_deg: float) -> float:
    """How far a face looks away from the camera: the larger of |yaw| and the pitch off the baseline."""
    return max(abs(frame.yaw_deg), abs(frame.pitch_deg - baseline_pitch_deg))


def choose_reference(frames: Sequence[FrameMeasure]) -> FrameMeasure | None:
    """The sharpest frontal frame; the most frontal one when none is; None without a single face."""
    faces = [f for f in frames if f.faces == 1]
    if not faces:
        return None
    baseline = statistics.median(f.pitch_deg for f in faces)
    frontal = [
        f
        for f in faces
        if abs(f.yaw_deg) <= FRONTAL_YAW_DEG and abs(f.pitch_deg - baseline) <= FRONTAL_PITCH_DEG
    ]
    if frontal:
        return max(frontal, key=lambda f: (f.sharpness, -f.seq))
    return min(faces, key=lambda f: (frontal_error_deg(f, baseline), f.seq))


class EvidenceKeeper:
    """A decision and its named frames in, the evidence records out. Not thread-safe (one per thread)."""

    def __init__(self, analyzer: FaceAnalyzer) -> None:
        self.analyzer = analyzer

    def records(
        self,
        decision: Decision,
        jpegs: Sequence[tuple[int, bytes | None]],
        meshes: Mapping[int, Sequence[NDArray[np.float64]]] | None = None,
    ) -> list[EvidenceRecord]:
        """Audit records for every frame still on the frames topic, and the reference record.

        ``meshes`` by seq: the landmarks already found in those frames (the rest are analysed here).
        """
        if decision.evidence is None:
            return []
        known = meshes or {}
        found = [(seq, jpeg) for seq, jpeg in jpegs if jpeg is not None]
        measures = {seq: measure(self.analyzer, seq, jpeg, known.get(seq)) for seq, jpeg in found}
        audit = set(decision.evidence.audit)
        records = [
            _record(decision, key, ROLE_AUDIT, measures[seq], jpeg)
            for seq, jpeg in found
            if (key := Evidence.frame_id(decision.session_id, seq)) in audit
        ]
        reference = choose_reference(list(measures.values()))
        if reference is not None:
            jpeg = dict(found)[reference.seq]
            records.append(_record(decision, decision.evidence.reference, ROLE_REFERENCE, reference, jpeg))
        return records


def _record(decision: Decision, key: str, role: str, frame: FrameMeasure, jpeg: bytes) -> EvidenceRecord:
    headers = {
        "session_id": decision.session_id,
        "role": role,
        "seq": str(frame.seq),
        "outcome": decision.outcome,
        "decided_at_ms": str(decision.decided_at_ms),
        "tenant": decision.tenant or "",
        "user_ref": decision.user_ref or "",
        "faces": str(frame.faces),
        "yaw_deg": f"{frame.yaw_deg:.2f}",
        "pitch_deg": f"{frame.pitch_deg:.2f}",
        "sharpness": f"{frame.sharpness:.1f}",
    }
    return EvidenceRecord(key, jpeg, tuple((name, value.encode()) for name, value in headers.items()))
