"""dlib's face ResNet on numpy: the same descriptors as dlib's own pass, on real aligned faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import face_recognition_models
import numpy as np
import pytest
from numpy.typing import NDArray

from devtools.media import MediaSet, fetch_media
from processors.face_resnet import CHIP_SIZE_PX, EMBEDDING_DIMENSIONS, FaceResNet, ModelFormatError, _Stream
from processors.identity import face_chip
from processors.landmarks import FaceAnalyzer

MODEL = Path(face_recognition_models.face_recognition_model_location())
PHOTOS = ("audrey_crop.jpg", "cage2_crop.jpg", "chuck_crop.jpg", "terminator_crop.jpg", "franck_02159.jpg")
# float32 sums in another order: dlib's descriptors have a norm of ~1.4, the differences ~1e-7.
SAME_NUMBERS = 1e-5


@pytest.fixture(scope="module")
def media() -> MediaSet:
    return fetch_media()


@pytest.fixture(scope="module")
def chips(media: MediaSet) -> list[NDArray[np.uint8]]:
    """Each photo's face, aligned as the identity stage aligns it."""
    out = []
    with FaceAnalyzer() as analyzer:
        for name in PHOTOS:
            image = cv2.imread(str(media.root / name), cv2.IMREAD_COLOR)
            assert image is not None, name
            meshes = analyzer.mesh_points(image)
            assert len(meshes) == 1, name
            out.append(face_chip(image, meshes[0]))
    return out


@pytest.fixture(scope="module")
def network() -> FaceResNet:
    return FaceResNet(MODEL)


def test_descriptors_equal_dlibs_own_pass(network: FaceResNet, chips: list[NDArray[np.uint8]]) -> None:
    reference = dlib.face_recognition_model_v1(str(MODEL))
    for chip in chips:
        ours = network.descriptor(chip)
        theirs = np.asarray(reference.compute_face_descriptor(chip), dtype=np.float32)

        assert ours.shape == (EMBEDDING_DIMENSIONS,) and ours.dtype == np.float32
        assert np.abs(ours - theirs).max() < SAME_NUMBERS
        assert 1.0 < float(np.linalg.norm(ours)) < 2.0  # a real descriptor, not zeros


def test_different_people_get_different_descriptors(
    network: FaceResNet, chips: list[NDArray[np.uint8]]
) -> None:
    descriptors = [network.descriptor(chip) for chip in chips]
    unit = [d / np.linalg.norm(d) for d in descriptors]
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(unit) for b in unit[i + 1 :]]

    assert min(gaps) > 0.38  # five different people (the verifier's limit is 0.36)


def test_chip_of_another_size_is_refused(network: FaceResNet) -> None:
    with pytest.raises(ValueError, match="150x150x3"):
        network.descriptor(np.zeros((CHIP_SIZE_PX, CHIP_SIZE_PX - 1, 3), dtype=np.uint8))


def test_file_that_is_not_the_model_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.dat"
    other.write_bytes(b"\x01\x0bnot a model" + bytes(1000))
    with pytest.raises(ModelFormatError, match="input_rgb_image_sized"):
        FaceResNet(other)


def test_truncated_model_is_refused(tmp_path: Path) -> None:
    """A download cut short still holds the first layers: the count of layers gives it away."""
    data = MODEL.read_bytes()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError):
        FaceResNet(cut)


def test_model_with_another_stride_is_refused(tmp_path: Path) -> None:
    """A different graph (here the first convolution's stride) is refused, not run wrongly."""
    data = bytearray(MODEL.read_bytes())
    stream = _Stream(bytes(data))
    assert stream.seek_layer("con_4")
    stream.tensor()
    assert [stream.integer() for _ in range(3)] == [32, 7, 7]  # filters, rows, columns
    assert data[stream.at : stream.at + 4] == b"\x01\x02\x01\x02"  # stride 2 down and across
    data[stream.at + 1] = data[stream.at + 3] = 1
    changed = tmp_path / "stride.dat"
    changed.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="7x7, stride 2"):
        FaceResNet(changed)
