"""Frame sources: a video file, a folder of images or a webcam, as BGR arrays; and JPEG encoding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def encode_jpeg(bgr: np.ndarray, quality: int = 80, max_width: int = 640) -> bytes:
    """JPEG bytes of a frame, downscaled to ``max_width`` (keeping aspect) to bound wire cost."""
    height, width = bgr.shape[:2]
    if width > max_width:
        bgr = cv2.resize(bgr, (max_width, round(height * max_width / width)), interpolation=cv2.INTER_AREA)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def video_frames(
    path: str | Path, fps: float = 10.0, start_s: float = 0.0, max_frames: int = 120
) -> Iterator[np.ndarray]:
    """Frames of a video file resampled to ``fps`` (the web client streams at most 15 fps)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    try:
        source_fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        capture.set(cv2.CAP_PROP_POS_MSEC, start_s * 1000)
        step = max(source_fps / fps, 1.0)
        produced, index, next_pick = 0, 0, 0.0
        while produced < max_frames:
            ok, frame = capture.read()
            if not ok:
                return
            if index >= next_pick:
                yield frame
                produced += 1
                next_pick += step
            index += 1
    finally:
        capture.release()


def image_folder_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Images of a folder in name order (a recorded burst, or photos for a static attack)."""
    for file in sorted(Path(path).iterdir()):
        if file.suffix.lower() in IMAGE_SUFFIXES:
            image = cv2.imread(str(file))
            if image is None:
                raise ValueError(f"cannot read image {file}")
            yield image


def webcam_frames(device: int = 0, fps: float = 10.0, max_frames: int = 120) -> Iterator[np.ndarray]:
    """Frames from a local camera, at most ``fps`` per second."""
    capture = cv2.VideoCapture(device)
    if not capture.isOpened():
        raise FileNotFoundError(f"no camera at device {device}")
    capture.set(cv2.CAP_PROP_FPS, fps)
    try:
        for _ in range(max_frames):
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()
