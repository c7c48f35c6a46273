"""The processor core on real images: JPEG checks, faces found, head pose signs, observations."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import mediapipe as mp
import numpy as np
import orjson
import pytest

from devtools.media import MediaSet, fetch_media
from processors.errors import CorruptFrameError, FrameTooLargeError
from processors.landmarks import (
    MESH_POINTS,
    NOSE_TIP,
    FaceAnalyzer,
    FrameLimits,
    OneThreadFaceMesh,
    decode_jpeg,
    jpeg_dimensions,
    landmark_array,
    observation_from,
)
from schemas.events import LANDMARK_SUBSET, FrameMeta, Observation


@pytest.fixture(scope="module")
def media() -> MediaSet:
    return fetch_media()


@pytest.fixture(scope="module")
def analyzer() -> Iterator[FaceAnalyzer]:
    with FaceAnalyzer() as face_analyzer:
        yield face_analyzer


def read_bgr(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def read_bgr_bytes(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def jpeg_bytes(media: MediaSet, name: str = "franck_03909.jpg") -> bytes:
    return (media.root / name).read_bytes()


def with_height(image: np.ndarray, height: int) -> np.ndarray:
    width = round(image.shape[1] * height / image.shape[0])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def test_analyse_image_astronaut_finds_one_face_with_nose_in_box(
    media: MediaSet, analyzer: FaceAnalyzer
) -> None:
    analysis = analyzer.analyse_image(read_bgr(media.astronaut))

    assert (analysis.image_width, analysis.image_height) == (512, 512)
    assert len(analysis.faces) == 1
    face = analysis.faces[0]
    assert face.box.contains_point(*face.nose)
    assert 60 < face.box.width < 300
    assert 60 < face.box.height < 300
    assert analysis.inference_ms > 0


def test_analyse_image_each_catalogued_photo_finds_one_face(media: MediaSet, analyzer: FaceAnalyzer) -> None:
    counts = {
        path.name: len(analyzer.analyse_image(read_bgr(path)).faces) for path in media.photos + media.artworks
    }

    assert counts == dict.fromkeys(counts, 1)


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_analyse_image_no_face_finds_nothing(analyzer: FaceAnalyzer, kind: str) -> None:
    rng = np.random.default_rng(7)
    image = (
        np.full((480, 640, 3), 128, np.uint8)
        if kind == "blank"
        else rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    )

    assert analyzer.analyse_image(image).faces == ()


def test_analyse_image_two_photos_side_by_side_finds_two_faces_largest_first(
    media: MediaSet, analyzer: FaceAnalyzer
) -> None:
    left = with_height(read_bgr(media.root / "cage.jpg"), 400)
    right = with_height(read_bgr(media.root / "audrey.jpg"), 400)

    faces = analyzer.analyse_image(np.hstack([left, right])).faces

    assert len(faces) == 2
    assert faces[0].box.area >= faces[1].box.area
    assert sorted(face.nose[0] < left.shape[1] for face in faces) == [False, True]


@pytest.mark.parametrize("name", ["franck_03909.jpg", "franck_02683.jpg", "franck_04000.jpg"])
def test_analyse_image_flipped_turned_face_flips_yaw_sign(
    media: MediaSet, analyzer: FaceAnalyzer, name: str
) -> None:
    image = read_bgr(media.root / name)

    yaw = analyzer.analyse_image(image).faces[0].yaw_deg
    flipped_yaw = analyzer.analyse_image(cv2.flip(image, 1)).faces[0].yaw_deg

    assert abs(yaw) > 8
    assert abs(flipped_yaw) > 8
    assert np.sign(yaw) == -np.sign(flipped_yaw)


def test_analyse_image_nose_toward_image_right_gives_positive_yaw(
    media: MediaSet, analyzer: FaceAnalyzer
) -> None:
    # franck_03909: the nose tip sits well right of the eye midpoint (checked by eye).
    face = analyzer.analyse_image(read_bgr(media.root / "franck_03909.jpg")).faces[0]
    eye_mid_x = (face.point(33)[0] + face.point(263)[0]) / 2

    assert face.nose[0] > eye_mid_x
    assert face.yaw_deg > 8


def test_analyse_image_tilted_face_flips_roll_sign(media: MediaSet, analyzer: FaceAnalyzer) -> None:
    image = read_bgr(media.root / "franck_01829.jpg")

    roll = analyzer.analyse_image(image).faces[0].roll_deg
    flipped_roll = analyzer.analyse_image(cv2.flip(image, 1)).faces[0].roll_deg

    assert roll < -5
    assert flipped_roll > 5


def test_analyse_image_landmarks_are_subset_rounded_pixels(media: MediaSet, analyzer: FaceAnalyzer) -> None:
    face = analyzer.analyse_image(read_bgr(media.astronaut)).faces[0]

    assert len(face.landmarks) == 3 * len(LANDMARK_SUBSET)
    assert face.point(NOSE_TIP)[:2] == face.nose
    assert all(round(value, 1) == value for value in face.landmarks)
    xs, ys = face.landmarks[0::3], face.landmarks[1::3]
    assert face.box.left <= min(xs)
    assert max(xs) <= face.box.right
    assert face.box.top <= min(ys)
    assert max(ys) <= face.box.bottom


def test_mesh_points_real_photo_gives_pixel_mesh(media: MediaSet, analyzer: FaceAnalyzer) -> None:
    image = read_bgr(media.root / "franck_02221.jpg")

    meshes = analyzer.mesh_points(image)

    assert len(meshes) == 1
    assert meshes[0].shape == (MESH_POINTS, 3)
    height, width = image.shape[:2]
    xs, ys = meshes[0][:, 0], meshes[0][:, 1]
    assert xs.min() > 0
    assert xs.max() < width
    assert ys.min() > 0
    assert ys.max() < height


def test_analyse_jpeg_real_photo_matches_analyse_image(media: MediaSet, analyzer: FaceAnalyzer) -> None:
    data = jpeg_bytes(media)

    from_jpeg = analyzer.analyse_jpeg(data)
    from_image = analyzer.analyse_image(read_bgr(media.root / "franck_03909.jpg"))

    assert (from_jpeg.image_width, from_jpeg.image_height) == (720, 576)
    assert from_jpeg.faces == from_image.faces


def test_face_analyzer_one_face_limit_raises() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        FaceAnalyzer(max_num_faces=1)


def test_observation_from_analysis_round_trips_as_small_event(
    media: MediaSet, analyzer: FaceAnalyzer
) -> None:
    analysis = analyzer.analyse_jpeg(jpeg_bytes(media))
    meta = FrameMeta(session_id="s-1", seq=3, captured_at_ms=1_700_000_000_000)

    observation = observation_from(analysis, meta, received_at_ms=1_700_000_000_040)

    assert (observation.session_id, observation.seq, observation.received_at_ms) == (
        "s-1",
        3,
        1_700_000_000_040,
    )
    assert observation.faces == analysis.faces
    encoded = orjson.dumps(observation.to_dict())
    assert Observation.from_dict(orjson.loads(encoded)) == observation
    assert len(encoded) < 4096


@pytest.mark.parametrize("name", ["franck_03909.jpg", "cage.jpg", "joconde.jpg", "walter2_crop.jpg"])
def test_jpeg_dimensions_real_jpeg_matches_cv2(media: MediaSet, name: str) -> None:
    height, width = read_bgr(media.root / name).shape[:2]

    assert jpeg_dimensions(jpeg_bytes(media, name)) == (width, height)


def test_decode_jpeg_real_frame_gives_bgr_image(media: MediaSet) -> None:
    image = decode_jpeg(jpeg_bytes(media), FrameLimits())

    assert image.shape == (576, 720, 3)
    assert image.dtype == np.uint8


def not_jpeg_payloads() -> dict[str, bytes]:
    skimage_data = resources.files("skimage.data")
    rng = np.random.default_rng(11)
    astronaut = cv2.imread(str(skimage_data.joinpath("astronaut.png")))
    return {
        "png": skimage_data.joinpath("astronaut.png").read_bytes(),
        "gif": skimage_data.joinpath("no_time_for_that_tiny.gif").read_bytes(),
        "webp": cv2.imencode(".webp", astronaut)[1].tobytes(),
        "random": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "empty": b"",
        "soi-only": b"\xff\xd8",
    }


@pytest.mark.parametrize("kind", sorted(not_jpeg_payloads()))
def test_decode_jpeg_not_a_jpeg_raises_corrupt(kind: str) -> None:
    with pytest.raises(CorruptFrameError):
        decode_jpeg(not_jpeg_payloads()[kind], FrameLimits())


@pytest.mark.parametrize("kind", sorted(not_jpeg_payloads()))
def test_jpeg_dimensions_not_a_jpeg_raises_corrupt(kind: str) -> None:
    with pytest.raises(CorruptFrameError):
        jpeg_dimensions(not_jpeg_payloads()[kind])


@pytest.mark.parametrize("encoding", ["progressive", "baseline"])
def test_decode_jpeg_truncated_raises_corrupt(media: MediaSet, encoding: str) -> None:
    data = jpeg_bytes(media)  # the photo as published is progressive
    if encoding == "baseline":
        data = cv2.imencode(".jpg", read_bgr_bytes(data), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()

    with pytest.raises(CorruptFrameError, match="truncated"):
        decode_jpeg(data[: len(data) * 2 // 3], FrameLimits())


def test_decode_jpeg_segment_length_past_end_raises_corrupt(media: MediaSet) -> None:
    data = bytearray(jpeg_bytes(media))
    assert data[2:4] == b"\xff\xe0"  # the APP0 (JFIF) segment follows the SOI
    data[4:6] = b"\xff\xff"

    with pytest.raises(CorruptFrameError, match="out of bounds"):
        decode_jpeg(bytes(data), FrameLimits())


def sof_patched(data: bytes, width: int, height: int) -> bytes:
    """``data`` with its start-of-frame (baseline or progressive) declaring other dimensions."""
    found = re.search(rb"\xff[\xc0\xc2]", data)
    assert found is not None
    sof = found.start()
    declared = (
        int.from_bytes(data[sof + 7 : sof + 9], "big"),
        int.from_bytes(data[sof + 5 : sof + 7], "big"),
    )
    assert declared == read_bgr_bytes(data).shape[1::-1]  # the match is the real SOF, not table data
    patched = bytearray(data)
    patched[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    patched[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    return bytes(patched)


def test_decode_jpeg_header_claims_60000_square_raises_too_large(media: MediaSet) -> None:
    bomb = sof_patched(jpeg_bytes(media), 60000, 60000)

    assert jpeg_dimensions(bomb) == (60000, 60000)
    with pytest.raises(FrameTooLargeError):
        decode_jpeg(bomb, FrameLimits())


def test_decode_jpeg_too_many_pixels_within_sides_raises_too_large(media: MediaSet) -> None:
    with pytest.raises(FrameTooLargeError):
        decode_jpeg(sof_patched(jpeg_bytes(media), 1920, 1200), FrameLimits())


def test_decode_jpeg_zero_width_raises_corrupt(media: MediaSet) -> None:
    with pytest.raises(CorruptFrameError):
        decode_jpeg(sof_patched(jpeg_bytes(media), 0, 576), FrameLimits())


def test_decode_jpeg_one_byte_over_limit_raises_too_large(media: MediaSet) -> None:
    data = jpeg_bytes(media)

    decode_jpeg(data, FrameLimits(max_bytes=len(data)))
    with pytest.raises(FrameTooLargeError):
        decode_jpeg(data, FrameLimits(max_bytes=len(data) - 1))


def test_decode_jpeg_oversize_payload_raises_too_large(media: MediaSet) -> None:
    data = jpeg_bytes(media)
    oversize = data[:-2] + bytes(FrameLimits().max_bytes) + data[-2:]

    with pytest.raises(FrameTooLargeError):
        decode_jpeg(oversize, FrameLimits())


@pytest.mark.parametrize("name", ["franck_03909.jpg", "cage.jpg", "audrey.jpg"])
def test_analyse_jpeg_decoded_to_rgb_gives_the_bgr_paths_exact_meshes(
    media: MediaSet, analyzer: FaceAnalyzer, name: str
) -> None:
    data = (media.root / name).read_bytes()
    bgr = decode_jpeg(data, analyzer.limits)

    rgb = decode_jpeg(data, analyzer.limits, rgb=True)
    meshes = analyzer.analyse_jpeg(data).meshes

    assert np.array_equal(rgb, bgr[:, :, ::-1])
    expected = analyzer.mesh_points(bgr)
    assert len(meshes) == len(expected) == 1
    assert all(np.array_equal(a, b) for a, b in zip(meshes, expected, strict=True))


def test_landmark_array_reads_the_same_floats_as_the_fields(media: MediaSet, analyzer: FaceAnalyzer) -> None:
    left = with_height(read_bgr(media.root / "cage.jpg"), 400)
    right = with_height(read_bgr(media.root / "audrey.jpg"), 400)
    result = analyzer._mesh.process(cv2.cvtColor(np.hstack([left, right]), cv2.COLOR_BGR2RGB))
    faces = list(result.multi_face_landmarks or ())
    assert len(faces) == 2

    for face in faces:
        fields = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64)
        assert landmark_array(face).shape == (MESH_POINTS, 3)
        assert np.array_equal(landmark_array(face), fields)


def test_landmark_array_with_visibility_set_falls_back_to_the_fields(
    media: MediaSet, analyzer: FaceAnalyzer
) -> None:
    image = read_bgr(media.root / "audrey.jpg")
    face = analyzer._mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).multi_face_landmarks[0]
    changed = type(face)()
    changed.CopyFrom(face)
    changed.landmark[5].visibility = 0.5  # another record layout: the fast read must not misparse it

    fields = np.array([(p.x, p.y, p.z) for p in changed.landmark], dtype=np.float64)
    assert np.array_equal(landmark_array(changed), fields)


def _thread_cpu_ticks() -> dict[int, int]:
    """CPU clock ticks (user + system) of each of this process's threads, by thread id."""
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
        ticks[int(tid)] = int(fields[11]) + int(fields[12])
    return ticks


def graph_threads_at_work(
    make: Callable[[], Any], run: Callable[[Any, np.ndarray], object], rgb: np.ndarray, frames: int = 60
) -> dict[int, int]:
    """CPU ticks spent by each thread started while ``make()`` built a FaceMesh graph, over
    ``frames`` passes of ``run(graph, rgb)``."""
    before = set(_thread_cpu_ticks())
    with make() as graph:
        run(graph, rgb)  # the first pass initialises the models
        started = {tid: ticks for tid, ticks in _thread_cpu_ticks().items() if tid not in before}
        for _ in range(frames):  # ~0.3 s of FaceMesh: tens of clock ticks to share out
            run(graph, rgb)
        after = _thread_cpu_ticks()
    return {tid: after.get(tid, ticks) - ticks for tid, ticks in started.items()}


def busy(worked: dict[int, int]) -> int:
    return len([tid for tid, ticks in worked.items() if ticks > 2])


FACEMESH_OPTIONS = {"static_image_mode": True, "max_num_faces": 2, "refine_landmarks": False}


def processed(mesh: Any, rgb: np.ndarray) -> object:
    return mesh.process(rgb)


def test_one_thread_facemesh_works_on_one_thread(media: MediaSet) -> None:
    rgb = cv2.cvtColor(read_bgr(media.root / "franck_03909.jpg"), cv2.COLOR_BGR2RGB)
    worked = graph_threads_at_work(lambda: OneThreadFaceMesh(**FACEMESH_OPTIONS), processed, rgb)

    assert sum(worked.values()) >= 10, worked  # the graph's own threads did the work
    assert busy(worked) == 1, worked


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="MediaPipe's pool is one thread on one core")
def test_mediapipes_own_facemesh_works_on_several_threads(media: MediaSet) -> None:
    # The control for the test above: the same measure tells the default pool apart.
    rgb = cv2.cvtColor(read_bgr(media.root / "franck_03909.jpg"), cv2.COLOR_BGR2RGB)
    worked = graph_threads_at_work(
        lambda: mp.solutions.face_mesh.FaceMesh(**FACEMESH_OPTIONS), processed, rgb
    )

    assert busy(worked) > 1, worked


def test_face_analyzer_runs_facemesh_on_one_thread(media: MediaSet) -> None:
    rgb = cv2.cvtColor(read_bgr(media.root / "franck_03909.jpg"), cv2.COLOR_BGR2RGB)
    worked = graph_threads_at_work(FaceAnalyzer, FaceAnalyzer.mesh_points_rgb, rgb)

    assert busy(worked) == 1, worked


def test_one_thread_facemesh_gives_mediapipes_own_landmarks_bit_for_bit(media: MediaSet) -> None:
    options = FACEMESH_OPTIONS
    images = [
        cv2.cvtColor(read_bgr(media.root / name), cv2.COLOR_BGR2RGB)
        for name in ("franck_03909.jpg", "cage.jpg", "joconde.jpg", "walter2_crop.jpg")
    ]
    with mp.solutions.face_mesh.FaceMesh(**options) as pooled, OneThreadFaceMesh(**options) as single:
        for image in images:
            expected = [landmark_array(f) for f in pooled.process(image).multi_face_landmarks or ()]
            found = [landmark_array(f) for f in single.process(image).multi_face_landmarks or ()]
            assert expected, "a face is found"
            assert len(found) == len(expected)
            assert all(np.array_equal(a, b) for a, b in zip(found, expected, strict=True))
