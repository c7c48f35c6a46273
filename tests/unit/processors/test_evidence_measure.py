"""Evidence measures on real faces: the processor's own landmarks stand in for a second FaceMesh pass."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.media import MediaSet, fetch_media
from processors.evidence import measure
from processors.landmarks import FaceAnalyzer, decode_jpeg

PHOTOS = ("audrey_crop.jpg", "cage2_crop.jpg", "franck_02159.jpg")


class CountingAnalyzer(FaceAnalyzer):
    """FaceAnalyzer that counts its FaceMesh passes."""

    passes = 0

    def mesh_points(self, image):  # type: ignore[no-untyped-def]
        self.passes += 1
        return super().mesh_points(image)


@pytest.fixture(scope="module")
def media() -> MediaSet:
    return fetch_media()


@pytest.fixture
def analyzer() -> Iterator[CountingAnalyzer]:
    with CountingAnalyzer() as face_analyzer:
        yield face_analyzer


def test_measure_on_held_landmarks_equals_a_fresh_pass_without_running_facemesh(
    media: MediaSet, analyzer: CountingAnalyzer
) -> None:
    for seq, name in enumerate(PHOTOS):
        jpeg = (media.root / name).read_bytes()
        held = tuple(analyzer.mesh_points(decode_jpeg(jpeg, analyzer.limits)))  # the processor's pass
        fresh = measure(analyzer, seq, jpeg)
        before = analyzer.passes

        reused = measure(analyzer, seq, jpeg, held)

        assert analyzer.passes == before  # no second FaceMesh pass
        assert reused == fresh and reused.faces == 1 and reused.sharpness > 0


def test_measure_of_held_frame_without_a_face_reports_none(
    media: MediaSet, analyzer: CountingAnalyzer
) -> None:
    jpeg = (media.root / PHOTOS[0]).read_bytes()
    assert measure(analyzer, 3, jpeg, ()).faces == 0
