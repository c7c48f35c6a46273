"""Contact sheets: a few frames of a species' sessions side by side, with the area and target boxes drawn.

A nose sequence's targets carry their number: the order the nose must rest in them.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from producers.recording import RecordedSession
from schemas.events import Box, Challenge
from verifier.settings import VerifierSettings

THUMB_WIDTH, THUMB_HEIGHT = 240, 180
AREA_COLOUR = (80, 200, 80)  # BGR green
TARGET_COLOUR = (40, 40, 230)  # red
TOLERANCE_COLOUR = (40, 160, 255)  # orange: the target as the verifier widens it
NOSE_TOLERANCE = VerifierSettings().nose_tolerance


def _rectangle(image: np.ndarray, box: Box, colour: tuple[int, int, int], thickness: int = 2) -> None:
    top_left = (int(round(box.left)), int(round(box.top)))
    bottom_right = (int(round(box.right)), int(round(box.bottom)))
    cv2.rectangle(image, top_left, bottom_right, colour, thickness)


def annotated(frame: np.ndarray, challenge: Challenge, caption: str) -> np.ndarray:
    """One thumbnail: the frame at the challenge's size, boxes drawn, a caption underneath."""
    image = cv2.resize(frame, (challenge.image_width, challenge.image_height))
    _rectangle(image, challenge.area, AREA_COLOUR)
    targets = challenge.targets or ((challenge.nose,) if challenge.nose is not None else ())
    for number, target in enumerate(targets, start=1):
        _rectangle(image, target.widened(NOSE_TOLERANCE), TOLERANCE_COLOUR, 1)
        _rectangle(image, target, TARGET_COLOUR)
        if len(targets) > 1:  # the order the nose must visit them in
            corner = (int(target.left), int(target.top) - 4)
            font = cv2.FONT_HERSHEY_SIMPLEX
            cv2.putText(image, str(number), corner, font, 0.6, TARGET_COLOUR, 2, cv2.LINE_AA)
    thumb = cv2.resize(image, (THUMB_WIDTH, THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
    band = np.full((18, THUMB_WIDTH, 3), 255, np.uint8)
    cv2.putText(band, caption, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([thumb, band])


def _unreadable(challenge: Challenge) -> np.ndarray:
    frame = np.full((challenge.image_height, challenge.image_width, 3), 90, np.uint8)
    cv2.putText(frame, "unreadable frame", (150, 250), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3)
    return frame


def session_strip(session: RecordedSession, frames: int) -> np.ndarray:
    """``frames`` frames evenly spread over the session, left to right."""
    picks = np.linspace(0, len(session.frames) - 1, frames).round().astype(int)
    first_ms = session.frames[0].captured_at_ms
    thumbs = []
    for index in picks:
        recorded = session.frames[int(index)]
        image = cv2.imdecode(np.frombuffer(recorded.jpeg(), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            image = _unreadable(session.challenge)
        caption = f"#{recorded.seq}  {(recorded.captured_at_ms - first_ms) / 1000:.1f} s"
        thumbs.append(annotated(image, session.challenge, caption))
    return np.hstack(thumbs)


def _title(text: str, width: int) -> np.ndarray:
    band = np.full((22, width, 3), 235, np.uint8)
    cv2.putText(band, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def write_contact_sheets(
    corpus: Path, out: Path, frames: int = 5, sessions_per_species: int = 2
) -> list[Path]:
    """One PNG per species from the first sessions of each species in ``corpus``."""
    by_species: dict[str, list[RecordedSession]] = defaultdict(list)
    for path in sorted(corpus.glob("*/session.json")):
        session = RecordedSession.load(path.parent)
        species = str((session.label or {}).get("species", "unlabelled"))
        if len(by_species[species]) < sessions_per_species:
            by_species[species].append(session)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for species, sessions in sorted(by_species.items()):
        rows = []
        for session in sessions:
            strip = session_strip(session, frames)
            label = session.label or {}
            rows += [_title(f"{session.session_id}  {label.get('source', '')}"[:150], strip.shape[1]), strip]
        path = out / f"{species}.png"
        _write_small_png(path, np.vstack(rows))
        written.append(path)
    return written


def _write_small_png(path: Path, bgr: np.ndarray) -> None:
    """A 256-colour PNG: a contact sheet is for looking at, and docs/ should stay small."""
    from PIL import Image

    image = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).quantize(256, dither=Image.Dither.NONE)
    image.save(path, optimize=True)
