"""One frame in, what it shows out: JPEG checks, MediaPipe FaceMesh, head pose. No Kafka here."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.framework import thread_pool_executor_pb2
from numpy.typing import NDArray

from processors.errors import CorruptFrameError
from processors.jpeg import EOI, FrameLimits, check_frame, jpeg_dimensions  # noqa: F401 - re-exported
from schemas.events import LANDMARK_SUBSET, Box, Face, FrameMeta, Observation

MESH_POINTS = 468
NOSE_TIP = 1
FOREHEAD = 10
CHIN = 152
RIGHT_EYE_OUTER = 33  # the person's right eye: image left in an unmirrored frame
LEFT_EYE_OUTER = 263


@dataclass(frozen=True)
class FrameAnalysis:
    """The faces of one image, largest first, in pixels of that image.

    ``meshes`` keeps every face's full (468, 3) landmarks, unrounded, in the order of
    ``faces``: the identity stage aligns its face chip on them instead of running FaceMesh
    again on a frame it was already run on.
    """

    image_width: int
    image_height: int
    faces: tuple[Face, ...]
    inference_ms: float
    meshes: tuple[NDArray[np.float64], ...] = field(default=(), repr=False, compare=False)


def decode_jpeg(data: bytes, limits: FrameLimits, *, rgb: bool = False) -> NDArray[np.uint8]:
    """Decode a JPEG to a BGR image (RGB with ``rgb``), refusing anything too large or incomplete
    before decoding.

    EXIF orientation is ignored on purpose: the frame keeps the dimensions its
    header declares, which are the dimensions the challenge geometry refers to.
    """
    width, height = check_frame(data, limits)
    # libjpeg only warns about a premature end of the scan and fills the rest
    # with grey. OpenCV 4.11 refuses a JPEG that simply stops, but not one cut
    # short with an end marker after it, and other builds may accept both; a
    # frame cut short in transit has no end marker, so refuse that explicitly.
    if not data.endswith(EOI):
        raise CorruptFrameError("JPEG truncated: no end-of-image marker at the end")
    # libjpeg's own output is RGB: decoding straight to it saves FaceMesh a conversion per frame.
    colour = cv2.IMREAD_COLOR_RGB if rgb else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, np.uint8), colour | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise CorruptFrameError("JPEG could not be decoded")
    if image.shape[:2] != (height, width):
        raise CorruptFrameError(
            f"JPEG decoded to {image.shape[1]}x{image.shape[0]}, header said {width}x{height}"
        )
    # IMREAD_COLOR always yields 8-bit BGR; the OpenCV stubs only say MatLike.
    return cast("NDArray[np.uint8]", image)


# The graph executor every FaceMesh calculator is assigned to (its threads are still "mediapipe/...").
FACEMESH_EXECUTOR = "facemesh"


class OneThreadFaceMesh(mp.solutions.face_mesh.FaceMesh):  # type: ignore[misc]  # untyped base
    """FaceMesh whose calculators all run on one thread of their own.

    By default MediaPipe spreads a graph's calculators over a pool of one thread per core, and
    one image at a time hops between those threads from calculator to calculator. On a worker
    that shares two cores with Kafka, the verifier and the identity network, each hop can wait
    for a core; on one thread there is no hop (``python -m benchmarks.facemesh_threads`` times
    both; docs/benchmarks/latency/ has the figures). The same calculators run in the same order
    on the same inputs: the landmarks are the same bit for bit.
    """

    def _modify_calculator_options(self, config: Any, calculator_params: Any) -> None:
        # The one hook SolutionBase offers on the expanded graph before it is built (FaceMesh
        # always passes calculator parameters, so it is always called).
        super()._modify_calculator_options(config, calculator_params)
        executor = config.executor.add(name=FACEMESH_EXECUTOR, type="ThreadPoolExecutor")
        options = executor.options.Extensions[thread_pool_executor_pb2.ThreadPoolExecutorOptions.ext]
        options.num_threads = 1
        for node in config.node:
            node.executor = FACEMESH_EXECUTOR


class FaceAnalyzer:
    """MediaPipe FaceMesh on single images, reduced to the facts the verifier needs.

    Not thread-safe, except ``decode``: the MediaPipe graph runs one image at a time and
    must not be called concurrently, so each thread owns its own analyzer. Close it, or
    use ``with``.
    """

    def __init__(
        self,
        *,
        max_num_faces: int = 2,
        min_detection_confidence: float = 0.5,
        limits: FrameLimits | None = None,
    ) -> None:
        # With fewer than two, a second person in the frame would go unseen.
        if max_num_faces < 2:
            raise ValueError("max_num_faces must be at least 2 to notice a second face")
        self.limits = limits if limits is not None else FrameLimits()
        # static_image_mode: every frame is detected afresh. A worker interleaves
        # the frames of many sessions, so tracking from the previous frame would
        # carry one session's face into another's frame.
        self._mesh = OneThreadFaceMesh(
            static_image_mode=True,
            max_num_faces=max_num_faces,
            refine_landmarks=False,
            min_detection_confidence=min_detection_confidence,
        )

    def analyse_jpeg(self, data: bytes) -> FrameAnalysis:
        """Decode (within ``limits``) and analyse one JPEG frame."""
        return self.analyse_decoded(self.decode(data))

    def decode(self, data: bytes) -> NDArray[np.uint8]:
        """One JPEG frame decoded within ``limits``, in the channel order FaceMesh takes (RGB).
        Safe from any thread: it does not touch the graph."""
        return decode_jpeg(data, self.limits, rgb=True)

    def analyse_decoded(self, rgb: NDArray[np.uint8]) -> FrameAnalysis:
        """Analyse one frame from ``decode``."""
        return self._analyse(rgb, self.mesh_points_rgb)

    def analyse_image(self, bgr: NDArray[np.uint8]) -> FrameAnalysis:
        """Analyse one BGR image: faces sorted by box area, largest first."""
        return self._analyse(bgr, self.mesh_points)

    def _analyse(
        self,
        image: NDArray[np.uint8],
        mesh_points: Callable[[NDArray[np.uint8]], list[NDArray[np.float64]]],
    ) -> FrameAnalysis:
        started = time.perf_counter()
        meshes = mesh_points(image)
        inference_ms = (time.perf_counter() - started) * 1000
        height, width = image.shape[:2]
        return FrameAnalysis(
            image_width=width,
            image_height=height,
            faces=tuple(face_from_mesh(points) for points in meshes),
            inference_ms=round(inference_ms, 2),
            meshes=tuple(meshes),
        )

    def mesh_points(self, bgr: NDArray[np.uint8]) -> list[NDArray[np.float64]]:
        """All 468 landmarks of each face as a (468, 3) array in pixels: x·w, y·h, z·w.

        z is MediaPipe's relative depth (smaller is nearer the camera), scaled
        by the width as MediaPipe scales it like x. Largest face first.
        """
        _check_image(bgr, "BGR")
        return self.mesh_points_rgb(cast("NDArray[np.uint8]", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))

    def mesh_points_rgb(self, rgb: NDArray[np.uint8]) -> list[NDArray[np.float64]]:
        """``mesh_points`` of an RGB image (FaceMesh's own channel order)."""
        _check_image(rgb, "RGB")
        height, width = rgb.shape[:2]
        result = self._mesh.process(rgb)
        scale = np.array([width, height, width], dtype=np.float64)
        meshes = [landmark_array(face) * scale for face in result.multi_face_landmarks or ()]
        return sorted(meshes, key=_box_area, reverse=True)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _check_image(image: NDArray[np.uint8], order: str) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected a non-empty HxWx3 uint8 {order} image, got {image.shape} {image.dtype}")


# A NormalizedLandmark with only x, y and z set, serialised: the list's field tag (0x0a), the
# message's length (15), then each float's tag (0x0d, 0x15, 0x1d) and its 4 little-endian bytes.
_LANDMARK_RECORD = np.dtype(
    [("head", "u1", 2), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"), ("tz", "u1"), ("z", "<f4")]
)
_LANDMARK_TAGS = (0x0A, 15, 0x0D, 0x15, 0x1D)


def landmark_array(face: object) -> NDArray[np.float64]:
    """A NormalizedLandmarkList as an (n, 3) array of x, y, z: the list's serialised bytes read
    as fixed records, ~20 times faster than reading the fields one by one. A list whose records
    are not all x, y and z alone (visibility or presence set) is read field by field."""
    data = face.SerializeToString()  # type: ignore[attr-defined]
    if len(data) % _LANDMARK_RECORD.itemsize == 0:
        records = np.frombuffer(data, dtype=_LANDMARK_RECORD)
        tags = (records["head"][:, 0], records["head"][:, 1], records["tx"], records["ty"], records["tz"])
        if all(np.all(column == tag) for column, tag in zip(tags, _LANDMARK_TAGS, strict=True)):
            return np.stack([records["x"], records["y"], records["z"]], axis=1).astype(np.float64)
    points = face.landmark  # type: ignore[attr-defined]
    return np.array([(p.x, p.y, p.z) for p in points], dtype=np.float64)


def _box_area(points: NDArray[np.float64]) -> float:
    extent = points[:, :2].max(axis=0) - points[:, :2].min(axis=0)
    return float(extent[0] * extent[1])


def face_from_mesh(points: NDArray[np.float64]) -> Face:
    """A ``Face`` from one (468, 3) pixel mesh, rounded to keep observations small.

    The box is not clipped to the image: a face leaving the frame must show as
    a box leaving the frame.
    """
    left, top = points[:, :2].min(axis=0)
    right, bottom = points[:, :2].max(axis=0)
    yaw, pitch, roll = head_pose(points)
    subset = points[list(LANDMARK_SUBSET)].round(1)
    return Face(
        box=Box(
            round(float(left), 1),
            round(float(top), 1),
            round(float(right - left), 1),
            round(float(bottom - top), 1),
        ),
        nose=(round(float(points[NOSE_TIP, 0]), 1), round(float(points[NOSE_TIP, 1]), 1)),
        yaw_deg=round(yaw, 2),
        pitch_deg=round(pitch, 2),
        roll_deg=round(roll, 2),
        landmarks=tuple(float(v) for v in subset.ravel()),
    )


def head_pose(points: NDArray[np.float64]) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees from a (468, 3) pixel mesh, without a camera model.

    Signs are in image terms, the same whether or not the client mirrors its preview:

    - yaw > 0: the nose points toward +x (image right). The eye corner on the
      image-right side recedes (z263 > z33). ``atan2`` over the eye line's
      in-plane length rather than its x extent, so a tilted head does not inflate it.
    - pitch > 0: the nose points toward +y (image down): the chin recedes
      behind the forehead (z152 > z10). Its zero depends on face shape and
      camera height (frontal photos read -8° to +22°), so compare pitch with
      the session's own first frame, not with a constant.
    - roll > 0: the eye line 33→263 turns clockwise in the image (the
      image-right eye lower).
    """
    eye = points[LEFT_EYE_OUTER] - points[RIGHT_EYE_OUTER]
    down = points[CHIN] - points[FOREHEAD]
    yaw = math.degrees(math.atan2(eye[2], math.hypot(eye[0], eye[1])))
    pitch = math.degrees(math.atan2(down[2], math.hypot(down[0], down[1])))
    roll = math.degrees(math.atan2(eye[1], eye[0]))
    return yaw, pitch, roll


def observation_from(
    analysis: FrameAnalysis, meta: FrameMeta, received_at_ms: int, frame_offset: int | None = None
) -> Observation:
    """The observation event of one analysed frame (``frame_offset``: where the frame lies on its topic)."""
    return Observation(
        session_id=meta.session_id,
        seq=meta.seq,
        captured_at_ms=meta.captured_at_ms,
        received_at_ms=received_at_ms,
        image_width=analysis.image_width,
        image_height=analysis.image_height,
        faces=analysis.faces,
        inference_ms=analysis.inference_ms,
        frame_offset=frame_offset,
    )
