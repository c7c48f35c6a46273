"""Who is in front of the camera: a face embedding aligned from the FaceMesh landmarks. No Kafka here.

The model is dlib's ResNet face embedding (128-d, 150x150 input, 99.38% on LFW), shipped
inside the ``face-recognition-models`` wheel, so it loads offline. Its weights are read from
that file and run on numpy's BLAS (processors/face_resnet.py), which gives dlib's numbers
about five times faster than the prebuilt ``dlib-bin`` wheel's own pass; dlib itself cuts the
aligned chip. dlib's face detector is not used: it misses strongly turned faces and costs
~20 ms; the five points its alignment needs are read off the FaceMesh landmarks the
processor already has.

Distances are Euclidean between L2-normalised embeddings (dlib's raw vectors have a norm of
~1.43, so its usual 0.6 limit is ~0.42 here). On the pinned face media: one person within a
session (warped and real-video head turns) 0.13-0.32, across a whole video or years of photos
<= 0.38; two people 0.38-0.70, similar-looking pairs from 0.395 (franck / George Clooney).
One embedding costs ~16 ms of CPU, about three FaceMesh frames: only the frames the verifier
asks for are embedded (``IdentityStage``; verifier/identity.py says which), aligned on the
landmarks the processor's own FaceMesh pass found in that frame (``RecentFrames``) when it
still holds them. In the worker the network runs in a child process (processors/face_network.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import dlib
import face_recognition_models
import numpy as np
from numpy.typing import NDArray

from processors.face_network import NetworkProcess
from processors.face_resnet import CHIP_SIZE_PX, FaceResNet
from processors.landmarks import FaceAnalyzer, decode_jpeg
from schemas.errors import LivenessError
from schemas.events import IdentityRequest, IdentitySample

# FaceMesh indices in the order of dlib's 5-point shape: the image-right eye's outer then inner
# corner, the image-left eye's outer then inner corner, the base of the nose (subnasale).
# Checked against dlib's own 5-point predictor on frontal photos: within 2-3 px of each point.
DLIB_FIVE_POINTS = (263, 362, 33, 133, 2)
CHIP_PADDING = 0.25  # dlib's default, the padding the network was trained with


class FaceEmbedder(Protocol):
    """Anything that turns one face (image + its 468 mesh points in pixels) into a unit vector."""

    def embed(self, image_bgr: NDArray[np.uint8], mesh_points_px: NDArray[np.float64]) -> NDArray[np.float32]:
        """The face's embedding, L2-normalised."""
        ...


class IdentityModel:
    """dlib's ResNet face embedding, loaded once.

    One per thread (the child's pipe carries one chip at a time), like ``FaceAnalyzer``.
    ``own_process=True`` runs the network in a child process
    (``processors.face_network``), for a process whose other threads must keep running
    meanwhile; the numbers are the same.
    """

    def __init__(
        self, model_path: str | None = None, *, own_process: bool = False, niceness: int = 0
    ) -> None:
        path = model_path or face_recognition_models.face_recognition_model_location()
        self._process = NetworkProcess(path, niceness) if own_process else None
        self._net = None if own_process else FaceResNet(path)

    def embed(self, image_bgr: NDArray[np.uint8], mesh_points_px: NDArray[np.float64]) -> NDArray[np.float32]:
        """The L2-normalised 128-d embedding of the face whose (468, 3) pixel mesh is given."""
        chip = face_chip(image_bgr, mesh_points_px)
        if self._process is not None:
            return normalised(self._process.descriptor(chip))
        assert self._net is not None
        return normalised(self._net.descriptor(chip))

    @property
    def network(self) -> NetworkProcess | None:
        """The child process that runs the network, if it runs in one."""
        return self._process

    def close(self) -> None:
        """Stop the child process, if the network runs in one."""
        if self._process is not None:
            self._process.close()


def face_chip(image_bgr: NDArray[np.uint8], mesh_points_px: NDArray[np.float64]) -> NDArray[np.uint8]:
    """The 150x150 RGB crop dlib's network expects, aligned on five FaceMesh points.

    ``get_face_chip`` fits the similarity transform from these points to dlib's template,
    the alignment the network was trained with. Only the face's surroundings are converted
    to RGB, not the whole frame.
    """
    if mesh_points_px.ndim != 2 or mesh_points_px.shape[0] < max(DLIB_FIVE_POINTS) + 1:
        raise ValueError(f"expected a (468, 3) FaceMesh array, got {mesh_points_px.shape}")
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.size == 0:
        raise ValueError(f"expected an HxWx3 BGR image, got {image_bgr.shape}")
    left, top, crop = _surroundings(image_bgr, mesh_points_px)
    rgb = np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    points = mesh_points_px[list(DLIB_FIVE_POINTS), :2] - (left, top)
    low, high = points.min(axis=0), points.max(axis=0)
    shape = dlib.full_object_detection(
        dlib.rectangle(int(low[0]), int(low[1]), int(high[0]) + 1, int(high[1]) + 1),
        [dlib.point(round(float(x)), round(float(y))) for x, y in points],
    )
    return np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE_PX, padding=CHIP_PADDING), dtype=np.uint8)


def _surroundings(
    image: NDArray[np.uint8], points: NDArray[np.float64]
) -> tuple[int, int, NDArray[np.uint8]]:
    """The face's box grown by its own size on every side (the chip's padding fits well inside)."""
    height, width = image.shape[:2]
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    margin = float((high - low).max())
    left, top = max(0, int(low[0] - margin)), max(0, int(low[1] - margin))
    right, bottom = min(width, int(high[0] + margin) + 1), min(height, int(high[1] + margin) + 1)
    if right <= left or bottom <= top:
        raise ValueError("the face lies outside the image")
    return left, top, image[top:bottom, left:right]


def normalised(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    """``vector`` scaled to unit length (a zero vector cannot be, and is refused)."""
    norm = float(np.linalg.norm(vector))
    if not norm > 0.0:
        raise ValueError("cannot normalise a zero or non-finite embedding")
    return (vector / norm).astype(np.float32)


def distance(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """Euclidean distance of two L2-normalised embeddings: 0 (same) to 2 (opposite)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


class IdentityStage:
    """One requested frame in, its identity sample out: decode, find the one face, embed it.

    The verifier asks for a few frames per session (the first framed frame and each milestone of
    the challenge). The worker passes the landmarks its FaceMesh pass found in that frame when
    it still holds them (``RecentFrames``); otherwise FaceMesh runs again here (~5 ms) rather
    than shipping all 468 landmarks with every observation. Not thread-safe: one per thread,
    like its parts.
    """

    def __init__(self, analyzer: FaceAnalyzer, model: FaceEmbedder) -> None:
        self.analyzer, self.model = analyzer, model

    def sample(
        self,
        request: IdentityRequest,
        jpeg: bytes | None,
        meshes: Sequence[NDArray[np.float64]] | None = None,
    ) -> IdentitySample:
        """The embedding of the request's frame, or a sample that says why there is none.

        ``meshes``: FaceMesh's faces of this very frame, as the processor found them; None to
        run FaceMesh here.
        """
        if jpeg is None:
            return self._failed(request, "frame not found")
        try:
            image = decode_jpeg(jpeg, self.analyzer.limits)
            if meshes is None:
                meshes = self.analyzer.mesh_points(image)
            if len(meshes) != 1:
                return self._failed(request, f"{len(meshes)} faces in the frame")
            embedding = self.model.embed(image, meshes[0])
        except (LivenessError, ValueError) as exc:
            return self._failed(request, str(exc))
        return IdentitySample(request.session_id, request.seq, tuple(round(float(v), 5) for v in embedding))

    @staticmethod
    def _failed(request: IdentityRequest, error: str) -> IdentitySample:
        return IdentitySample(request.session_id, request.seq, (), error[:200])


@dataclass(frozen=True)
class AnalysedFrame:
    """A frame the processor analysed: its JPEG and FaceMesh's full landmarks of each face in it."""

    jpeg: bytes
    meshes: tuple[NDArray[np.float64], ...]

    @property
    def held_bytes(self) -> int:
        """What holding it costs: the JPEG and the landmark arrays."""
        return len(self.jpeg) + sum(mesh.nbytes for mesh in self.meshes)


# What the frames kept for the identity stage may hold at most, whatever their size.
RECENT_FRAMES_MAX_BYTES = 64 * 1024 * 1024


class RecentFrames:
    """The last ``capacity`` frames the processor analysed, by partition and offset on the frames topic.

    The verifier asks for frames moments after their observation (the first framed frame, the
    rest that just completed), so a request usually finds its frame here: no read-back from
    Kafka and no second FaceMesh run. The landmarks are FaceMesh's own, unrounded, for the
    same decoded image in static-image mode, so the chip and the embedding are those a second
    run would give. ~35 KB per frame at 640 pixels (the JPEG and a 468x3 float64 mesh per face).

    Bounded in bytes as well as in frames: clients that send large frames (1080p JPEGs of
    several hundred KB, up to the decode limit) would otherwise make ``capacity`` frames
    hundreds of MB and push the worker past its memory limit. Then fewer frames are held, and
    a request for an older one reads it back from the topic. The newest frame is always held.
    Not thread-safe: the worker uses it from its event loop only.
    """

    def __init__(self, capacity: int, max_bytes: int = RECENT_FRAMES_MAX_BYTES) -> None:
        self.capacity, self.max_bytes = capacity, max_bytes
        self._frames: OrderedDict[tuple[int, int], AnalysedFrame] = OrderedDict()
        self._bytes = 0

    def keep(self, partition: int, offset: int, frame: AnalysedFrame) -> None:
        """Remember one analysed frame, forgetting the oldest beyond ``capacity`` or ``max_bytes``."""
        if self.capacity <= 0:
            return
        replaced = self._frames.pop((partition, offset), None)
        if replaced is not None:
            self._bytes -= replaced.held_bytes
        self._frames[(partition, offset)] = frame
        self._bytes += frame.held_bytes
        while len(self._frames) > self.capacity or (self._bytes > self.max_bytes and len(self._frames) > 1):
            self._bytes -= self._frames.popitem(last=False)[1].held_bytes

    @property
    def held_bytes(self) -> int:
        """The bytes of every frame held (JPEGs and landmarks)."""
        return self._bytes

    def get(self, partition: int, offset: int | None) -> AnalysedFrame | None:
        """The frame at ``offset`` of ``partition``, if still held."""
        return None if offset is None else self._frames.get((partition, offset))

    def __len__(self) -> int:
        return len(self._frames)
