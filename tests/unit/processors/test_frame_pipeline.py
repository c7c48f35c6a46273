"""The processor core on a batch of real frame records: decoded ahead or in place, the same results."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

import pytest

from devtools.media import MediaSet, fetch_media
from processors.landmarks import FaceAnalyzer
from processors.pipeline import analyse_batch
from schemas.codec import frame_headers
from schemas.events import FrameMeta, SourceRef
from schemas.reasons import DeadLetterReason

PHOTOS = ("franck_03909.jpg", "cage.jpg", "joconde.jpg", "walter2_crop.jpg")


class CountingExecutor(ThreadPoolExecutor):
    """A one-thread executor that counts what it is given (and notes it in ``log``)."""

    def __init__(self, log: list[str] | None = None) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0
        self.log = log if log is not None else []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)  # raises once shut down: nothing noted
        self.submitted += 1
        self.log.append("decode ahead")
        return future


class NotingAnalyzer:
    """The analyzer, noting in ``log`` each frame FaceMesh runs on."""

    def __init__(self, analyzer: FaceAnalyzer, log: list[str]) -> None:
        self.analyzer, self.log = analyzer, log

    def decode(self, data: bytes) -> Any:
        return self.analyzer.decode(data)

    def analyse_jpeg(self, data: bytes) -> Any:
        self.log.append("decode + facemesh")
        return self.analyzer.analyse_jpeg(data)

    def analyse_decoded(self, rgb: Any) -> Any:
        self.log.append("facemesh")
        return self.analyzer.analyse_decoded(rgb)


@pytest.fixture(scope="module")
def analyzer() -> Iterator[FaceAnalyzer]:
    with FaceAnalyzer() as face_analyzer:
        yield face_analyzer


@pytest.fixture(scope="module")
def batch() -> list[tuple[Any, ...]]:
    """Four photos, then a frame cut short and one without its headers, then a photo again."""
    media: MediaSet = fetch_media()
    jpegs = [(media.root / name).read_bytes() for name in PHOTOS]
    frames = [*jpegs, jpegs[0][: len(jpegs[0]) // 2], jpegs[1], jpegs[2]]
    headers: list[Any] = [frame_headers(FrameMeta("s-1", seq, 1_000 + seq)) for seq in range(len(frames))]
    headers[5] = None
    return [
        (jpeg, header, 2_000, SourceRef("liveness.frames", 0, offset))
        for offset, (jpeg, header) in enumerate(zip(frames, headers, strict=True))
    ]


def test_analyse_batch_decoded_ahead_gives_the_in_place_results(
    analyzer: FaceAnalyzer, batch: list[tuple[Any, ...]]
) -> None:
    in_place = analyse_batch(analyzer, batch, 3_000)
    with CountingExecutor() as decoder:
        ahead = analyse_batch(analyzer, batch, 3_000, decoder)

    assert [r.findings() for r in ahead] == [r.findings() for r in in_place]
    assert all(r.observation and r.observation.faces for r in in_place[:4])
    assert in_place[4].dead_letter and in_place[4].dead_letter.reason == DeadLetterReason.CORRUPT_FRAME.value
    assert in_place[5].observation is None and in_place[5].dead_letter is not None
    assert in_place[6].observation and in_place[6].observation.faces
    assert decoder.submitted == len(batch) - 1  # every frame but the first


def test_analyse_batch_lone_frame_is_decoded_in_place(
    analyzer: FaceAnalyzer, batch: list[tuple[Any, ...]]
) -> None:
    with CountingExecutor() as decoder:
        (result,) = analyse_batch(analyzer, batch[:1], 3_000, decoder)

    assert result.observation and result.observation.faces
    assert decoder.submitted == 0


def test_analyse_batch_decodes_one_frame_ahead_at_most(
    analyzer: FaceAnalyzer, batch: list[tuple[Any, ...]]
) -> None:
    log: list[str] = []
    with CountingExecutor(log) as decoder:
        analyse_batch(cast(FaceAnalyzer, NotingAnalyzer(analyzer, log)), batch[:4], 3_000, decoder)

    # The next frame's decode is handed over just before FaceMesh runs on this one; only the
    # first frame is decoded in place.
    assert log == ["decode ahead", "decode + facemesh"] + ["decode ahead", "facemesh"] * 2 + ["facemesh"]


def test_analyse_batch_decoder_shut_down_decodes_in_place(
    analyzer: FaceAnalyzer, batch: list[tuple[Any, ...]]
) -> None:
    log: list[str] = []
    decoder = CountingExecutor()
    decoder.shutdown()

    results = analyse_batch(cast(FaceAnalyzer, NotingAnalyzer(analyzer, log)), batch[:3], 3_000, decoder)

    assert log == ["decode + facemesh"] * 3
    assert all(r.observation and r.observation.faces for r in results)
