"""Genuine head turns rendered from one photo: the final pose, the poses frame by frame, the take."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from evaluation.scene import AREA, FacePhoto, Scene, SceneError, ease, frame_times, smooth_noise
from evaluation.warp import NOSE_TIP, HeadPose, HeadWarper
from processors.landmarks import FaceAnalyzer
from schemas.events import Box
from verifier.settings import VerifierSettings

YAW_RANGE_DEG = (15.0, 30.0)
# The verifier's default widening of the nose box and of the area box (once framed):
# sessions are made for the verifier as configured, and follow it when it changes.
NOSE_TOLERANCE = VerifierSettings().nose_tolerance
AREA_TOLERANCE = VerifierSettings().area_tolerance


@dataclass(frozen=True)
class Timing:
    """Frames spent still before the turn, turning, and holding the final pose."""

    still: int = 5
    move: int = 20
    hold: int = 3

    @property
    def total(self) -> int:
        return self.still + self.move + self.hold


@dataclass(frozen=True)
class Take:
    """A person on camera: frames, their capture times (ms from the first), and the nose as rendered."""

    frames: list[np.ndarray]
    times_ms: list[int]
    noses: list[tuple[float, float]]
    person: str
    source: str

    def entry(self, target: Box, tolerance: float = NOSE_TOLERANCE) -> int | None:
        """Index of the first frame whose nose is in ``target`` widened as the verifier widens it."""
        widened = target.widened(tolerance)
        return next((i for i, nose in enumerate(self.noses) if widened.contains_point(*nose)), None)


def random_timing(rng: np.random.Generator, move_s: tuple[float, float] = (1.0, 3.0)) -> Timing:
    """~0.5 s still, a 1-3 s turn, 0.3 s hold, at ~10 fps."""
    return Timing(still=int(rng.integers(4, 7)), move=int(round(rng.uniform(*move_s) * 10)), hold=3)


def nose_after(warper: HeadWarper, pose: HeadPose) -> tuple[float, float]:
    x, y, _ = warper.project(pose)[NOSE_TIP]
    return float(x), float(y)


def yaw_for_shift(warper: HeadWarper, shift_px: float) -> float:
    """The yaw (same sign as ``shift_px``) that alone moves the nose ``shift_px`` along x."""
    start = nose_after(warper, HeadPose())[0]
    low, high = 0.0, 60.0
    for _ in range(20):  # bisection: the nose's x grows monotonically with yaw over this range
        middle = (low + high) / 2
        moved = abs(nose_after(warper, HeadPose(yaw_deg=math.copysign(middle, shift_px)))[0] - start)
        low, high = (middle, high) if moved < abs(shift_px) else (low, middle)
    return math.copysign((low + high) / 2, shift_px)


def turn_pose(warper: HeadWarper, target: tuple[float, float], rng: np.random.Generator) -> HeadPose:
    """A pose that turns the head toward ``target`` and, with a small shift, brings the nose onto it.

    Most of the nose's travel comes from the turn (80-115%, within 15-30 deg), as when
    people do the challenge; a shift of the head makes up the rest. The pitch follows
    the target's height.
    """
    nose = nose_after(warper, HeadPose())
    want = (target[0] - nose[0], target[1] - nose[1])
    yaw = yaw_for_shift(warper, want[0] * rng.uniform(0.8, 1.15))
    yaw = math.copysign(min(max(abs(yaw), YAW_RANGE_DEG[0]), YAW_RANGE_DEG[1]), want[0])
    pitch = float(np.clip(want[1] / 40 * rng.uniform(3, 8), -8, 8))
    turned = nose_after(warper, HeadPose(yaw, pitch))
    return HeadPose(yaw, pitch, target[0] - turned[0], target[1] - turned[1])


def away_pose(warper: HeadWarper, target: tuple[float, float], rng: np.random.Generator) -> HeadPose:
    """A turn of 15-30 deg away from ``target`` (the wrong answer to the challenge)."""
    nose = nose_after(warper, HeadPose())
    side = -1.0 if target[0] >= nose[0] else 1.0
    return HeadPose(
        side * rng.uniform(15, 30), rng.uniform(-4, 4), side * rng.uniform(0, 12), rng.uniform(-5, 5)
    )


def aim(
    warper: HeadWarper, analyzer: FaceAnalyzer, pose: HeadPose, target: Box, attempts: int = 3
) -> HeadPose:
    """Correct the pose's shift until FaceMesh, on the rendered frame, finds the nose in ``target``.

    The mesh moves exactly as commanded, but FaceMesh reads a turned face back with a
    few pixels of bias; the verifier only sees what FaceMesh sees.
    """
    goal = target.centre
    for _ in range(attempts):
        meshes = analyzer.mesh_points(warper.render(pose))
        if len(meshes) != 1:
            raise SceneError(f"{len(meshes)} faces in the final frame of the turn")
        seen = meshes[0][NOSE_TIP]
        if target.contains_point(seen[0], seen[1]):
            return pose
        pose = replace(pose, dx_px=pose.dx_px + goal[0] - seen[0], dy_px=pose.dy_px + goal[1] - seen[1])
    meshes = analyzer.mesh_points(warper.render(pose))
    if len(meshes) != 1 or not target.widened(NOSE_TOLERANCE).contains_point(*meshes[0][NOSE_TIP, :2]):
        raise SceneError("FaceMesh does not find the nose in the target after the turn")
    return pose


def in_area(warper: HeadWarper, pose: HeadPose, margin_px: float = 3.0) -> bool:
    """Whether the face box stays inside the area box widened as the verifier allows, with a margin."""
    points = warper.project(pose)[:, :2]
    low, high = points.min(axis=0), points.max(axis=0)
    box = Box(float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))
    return AREA.widened(AREA_TOLERANCE).widened(-margin_px / AREA.width).contains_box(box)


def poses(
    final: HeadPose,
    timing: Timing,
    rng: np.random.Generator,
    blink: bool = False,
    progress_of: np.ndarray | None = None,
) -> list[HeadPose]:
    """Still, then a turn to ``final`` with easing and a slow wobble, then a hold.

    ``progress_of`` (one value in [0, 1] per turning frame) replaces the easing, e.g.
    for a slow steady drift.
    """
    count = timing.total
    steps = np.arange(1, timing.move + 1) / timing.move
    turning = np.array([ease(u) for u in steps]) if progress_of is None else progress_of
    progress = np.concatenate([np.zeros(timing.still), turning, np.ones(timing.hold)])
    # The shift leads or lags the turn a little: the nose path bends, as a real one does.
    lag = rng.uniform(0.85, 1.15)
    shift = progress**lag
    wobble = [smooth_noise(rng, count, amplitude) for amplitude in (0.35, 0.3, 0.5, 0.5)]
    closed = _blink(count, timing, rng) if blink else np.zeros(count)
    return [
        HeadPose(
            final.yaw_deg * progress[i] + wobble[0][i],
            final.pitch_deg * progress[i] + wobble[1][i],
            final.dx_px * shift[i] + wobble[2][i],
            final.dy_px * shift[i] + wobble[3][i],
            float(closed[i]),
        )
        for i in range(count)
    ]


def _blink(count: int, timing: Timing, rng: np.random.Generator) -> np.ndarray:
    """A three-frame blink somewhere in the turn, never on the first or last frames."""
    closed = np.zeros(count)
    if timing.move >= 6:
        middle = timing.still + int(rng.integers(2, timing.move - 2))
        closed[middle - 1 : middle + 2] = (0.5, 1.0, 0.5)
    return closed


def render_take(
    warper: HeadWarper, pose_list: list[HeadPose], rng: np.random.Generator, person: str, source: str
) -> Take:
    frames = [warper.render(pose) for pose in pose_list]
    noses = [nose_after(warper, pose) for pose in pose_list]
    return Take(frames, frame_times(rng, len(frames), 0), noses, person, source)


def plan_turn(
    photo: FacePhoto,
    scene: Scene,
    analyzer: FaceAnalyzer,
    target: Box,
    rng: np.random.Generator,
) -> tuple[HeadWarper, HeadPose]:
    """The warper of a placed photo and a final pose whose nose FaceMesh finds in ``target``."""
    warper = HeadWarper(scene.frame, scene.mesh)
    final = turn_pose(warper, target.centre, rng)
    final = aim(warper, analyzer, final, target)
    if not in_area(warper, final):
        raise SceneError(f"{photo.name}: the turn takes the face out of the area box")
    return warper, final


@dataclass(frozen=True)
class Route:
    """A head (or a print) going through several targets: still frames, then a move and a rest per target."""

    still: int
    moves: tuple[int, ...]
    holds: tuple[int, ...]

    @property
    def total(self) -> int:
        return self.still + sum(self.moves) + sum(self.holds)

    def rest_ends(self) -> list[int]:
        """Index of the last frame of each rest."""
        ends, frame = [], self.still
        for move, hold in zip(self.moves, self.holds, strict=True):
            frame += move + hold
            ends.append(frame - 1)
        return ends

    def segments(self) -> list[tuple[int, float]]:
        """Per frame: the step it belongs to (0: before the first move) and its eased progress in it."""
        out = [(0, 0.0)] * self.still
        for step, (move, hold) in enumerate(zip(self.moves, self.holds, strict=True), start=1):
            out += [(step, ease(i / move)) for i in range(1, move + 1)] + [(step, 1.0)] * hold
        return out


def random_route(
    rng: np.random.Generator,
    steps: int,
    move_s: tuple[float, float] = (0.8, 1.6),
    hold: tuple[int, int] = (4, 6),
) -> Route:
    """~0.5 s still, then per target a 0.8-1.6 s move and a 0.4-0.6 s rest, at ~10 fps.

    One target keeps the single-target challenge's timing (a 1-3 s turn, 0.3 s hold).
    """
    if steps == 1:
        timing = random_timing(rng)
        return Route(timing.still, (timing.move,), (timing.hold,))
    moves = tuple(int(round(rng.uniform(*move_s) * 10)) for _ in range(steps))
    holds = tuple(int(rng.integers(hold[0], hold[1] + 1)) for _ in range(steps))
    return Route(int(rng.integers(4, 7)), moves, holds)


def route_poses(
    finals: list[HeadPose], route: Route, rng: np.random.Generator, blink: bool = False
) -> list[HeadPose]:
    """From the photo's pose through each of ``finals`` in turn, eased, with a slow wobble throughout."""
    keys = [HeadPose(), *finals]
    count = route.total
    wobble = [smooth_noise(rng, count, amplitude) for amplitude in (0.35, 0.3, 0.5, 0.5)]
    lags = rng.uniform(0.85, 1.15, len(keys))  # the shift leads or lags each turn a little
    closed = np.zeros(count)
    if blink and count > 12:
        middle = int(rng.integers(route.still + 2, count - 4))
        closed[middle - 1 : middle + 2] = (0.5, 1.0, 0.5)
    out = []
    for i, (step, p) in enumerate(route.segments()):
        a, b = keys[max(step - 1, 0)], keys[step]
        q = p ** lags[step]
        out.append(
            HeadPose(
                a.yaw_deg + (b.yaw_deg - a.yaw_deg) * p + wobble[0][i],
                a.pitch_deg + (b.pitch_deg - a.pitch_deg) * p + wobble[1][i],
                a.dx_px + (b.dx_px - a.dx_px) * q + wobble[2][i],
                a.dy_px + (b.dy_px - a.dy_px) * q + wobble[3][i],
                float(closed[i]),
            )
        )
    return out


def plan_route(
    photo: FacePhoto,
    scene: Scene,
    analyzer: FaceAnalyzer,
    targets: tuple[Box, ...],
    rng: np.random.Generator,
) -> tuple[HeadWarper, list[HeadPose]]:
    """The warper of a placed photo and, per target, a pose whose nose FaceMesh finds in it."""
    warper = HeadWarper(scene.frame, scene.mesh)
    finals = []
    for target in targets:
        final = aim(warper, analyzer, turn_pose(warper, target.centre, rng), target)
        if not in_area(warper, final):
            raise SceneError(f"{photo.name}: the turn takes the face out of the area box")
        finals.append(final)
    return warper, finals
