"""A person takes the challenge in a real browser: Chromium's fake camera, the gateway, the real workers.

Chromium plays a y4m file as its camera (looping it). The gateway draws the
session's challenge through its server-side ``challenge_source`` hook, so a
recording meets the challenge it was made for; the page only ever sees the
challenge the server sent. The genuine session is shot at each step of its
sequence, the photo's failure with its sentence (``docs/screenshots/client/``).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from browser_helpers import (
    DECISION_TIMEOUT_MS,
    FPS,
    astronaut_frame,
    browser_page,
    gateway,
    shadow_text,
    shoot,
    wait_state,
    write_y4m,
)
from playwright.async_api import Page

from devtools.media import fetch_media
from devtools.stack import Stack
from evaluation.scene import load_face_photos
from evaluation.species import SPECIES, Draw, Studio
from liveness.replay import replay_offline
from processors.landmarks import FaceAnalyzer
from producers.recording import RecordedSession, write_session
from schemas.events import Challenge

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STILL_S, HOLD_S = 2.0, 3.0  # the page starts streaming a moment after the camera starts the file
GENUINE_CANDIDATES = 8
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "gateway.png"


async def take_challenge(page: Page, screenshot: Path | None = None, shoot_steps: bool = False) -> dict:
    """Press start, let the camera stream until the page shows the decision; returns ``window.liveness``.

    ``shoot_steps``: shoot each step of a sequence as it first shows (``step-1`` ...), the
    first "hold still" and the result, and record in ``window.liveness.shotSteps`` the
    steps that were seen.
    """
    await page.click("#start")
    if screenshot is not None:
        await page.wait_for_function(
            "() => window.liveness.feedbackMs.length >= 5", timeout=DECISION_TIMEOUT_MS
        )
        await page.screenshot(path=str(screenshot))
        await shoot(page, "challenge")  # a still photo: resizing cannot disturb a motion
    shown: list[int] = []
    if shoot_steps:
        shown = await _shoot_steps(page)
    await wait_state(page, "decided")
    stats = await page.evaluate("() => window.liveness")
    return {**stats, "shownSteps": shown}


async def _shoot_steps(page: Page) -> list[int]:
    """Shoot each step of the challenge when it first shows, and "hold still" once, until the decision."""
    shown: list[int] = []
    held = False
    while True:
        state, step, steps = await page.evaluate(
            "() => [window.liveness.state, window.liveness.step, window.liveness.steps]"
        )
        if state == "decided":
            return shown
        if steps and step + 1 not in shown:
            shown.append(step + 1)
            await shoot(page, f"step-{step + 1}", both_sizes=False)
        elif state == "hold" and not held:
            held = True
            await shoot(page, "hold-still", both_sizes=False)
        await asyncio.sleep(0.05)


async def target_coverage(page: Page, mirrored: bool) -> float:
    """Share of the overlay's pixels drawn over the first nose target's box, or over that box
    mirrored, leaving out where the two boxes overlap.

    The target box is filled; elsewhere inside the area box only lines are drawn (the face box's
    dashed outline, the nose dot), which may cross either box, so a single pixel would not tell.
    """
    script = """mirrored => {
        const { nose, targets, image_width } = window.liveness.challenge;
        const box = targets ? targets[0] : nose;
        const shown = { ...box, left: image_width - box.left - box.width };
        const [mine, other] = mirrored ? [shown, box] : [box, shown];
        const root = document.querySelector("liveness-check").shadowRoot;
        const ctx = root.getElementById("overlay").getContext("2d");
        const left = Math.round(mine.left), top = Math.round(mine.top);
        const width = Math.round(mine.width), height = Math.round(mine.height);
        const alpha = ctx.getImageData(left, top, width, height).data;
        let drawn = 0, counted = 0;
        for (let j = 0; j < height; j++) {
            for (let i = 0; i < width; i++) {
                const x = left + i + 0.5, y = top + j + 0.5;
                const inOther = x >= other.left && x < other.left + other.width
                    && y >= other.top && y < other.top + other.height;
                if (inOther) continue;
                counted += 1;
                if (alpha[(j * width + i) * 4 + 3] > 0) drawn += 1;
            }
        }
        return counted ? drawn / counted : -1;
    }"""
    return float(await page.evaluate(script, mirrored))


def report_latency(
    stats: dict, label: str, record_property: Callable[[str, object], None]
) -> dict[str, float]:
    """Latencies measured in the page (``performance.now()``), printed and recorded in the JUnit report.

    The page streams until the decision arrives, so the last frame sent is usually one sent
    after the frame that settled the session; ``deciding_frame`` (seq ``frames_used - 1``:
    the verifier applies frames in order) times the whole path for the frame that mattered.
    """
    decision, shown = stats["decision"], stats["decisionShownAt"]
    deciding_seq = min(decision["frames_used"], stats["framesSent"]) - 1
    latencies = {
        "last_frame_to_decision_ms": shown - stats["lastFrameSentAt"],
        "deciding_frame_to_decision_ms": shown - stats["sentAt"][deciding_seq],
        "feedback_median_ms": statistics.median(stats["feedbackMs"]),
    }
    print(
        f"{label}: last frame sent -> decision shown {latencies['last_frame_to_decision_ms']:.0f} ms; "
        f"deciding frame (seq {deciding_seq}) sent -> decision shown "
        f"{latencies['deciding_frame_to_decision_ms']:.0f} ms; "
        f"frame -> its feedback median {latencies['feedback_median_ms']:.0f} ms; {stats['framesSent']} frames"
    )
    for name, value in latencies.items():
        record_property(f"{label}_{name}", round(value))
    return latencies


async def test_browser_static_photo_fails_and_page_shows_it(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    camera_file = write_y4m(tmp_path / "static.y4m", [astronaut_frame(analyzer)] * 20)
    async with gateway(stack) as url, browser_page(url, camera_file) as (page, errors):
        stats = await take_challenge(page, screenshot=tmp_path / "gateway.png")
        title, sentence = await shadow_text(page, "result-title"), await shadow_text(page, "result-text")
        target_drawn = await target_coverage(page, mirrored=True), await target_coverage(page, mirrored=False)
        await shoot(page, "result-fail")
        # Try again: a new session, never the old one again.
        await page.click("#retry")
        await page.wait_for_function(
            "first => window.liveness.sessionId && window.liveness.sessionId !== first",
            arg=stats["sessionId"],
        )
    assert stats["decision"]["outcome"] == "fail", stats["decision"]
    assert stats["decision"]["session_id"] == stats["sessionId"]
    assert title == "Not passed"
    assert sentence and sentence != stats["decision"]["reason"], "a human sentence, not the reason code"
    assert errors == []
    # Filled where the preview shows it (mirrored); crossed by a line at most where it is not.
    assert target_drawn[0] > 0.9 and 0 <= target_drawn[1] < 0.5, "the target is drawn mirrored"
    report_latency(stats, "static_photo", record_property)
    if os.environ.get("LIVENESS_UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "gateway.png", SCREENSHOT)


def _camera_round_trip(jpeg: bytes) -> np.ndarray:
    """A frame as the page will see it: through the camera's 4:2:0 colour (BGR back for the y4m)."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)


def _genuine_recording(analyzer: FaceAnalyzer, work_dir: Path) -> tuple[Challenge, list[np.ndarray]]:
    """A generated genuine session that the verifier passes offline, held still at both ends.

    Not every generated genuine passes (the generator's photos turn by random amounts);
    this test is about the browser path, so it takes the first that passes the same
    core offline, frames as the camera will deliver them.
    """
    media = fetch_media()
    studio = Studio(media, analyzer, load_face_photos(media, analyzer))
    for index in range(GENUINE_CANDIDATES):
        draft = SPECIES["genuine"](
            studio, Draw(random.Random(100 + index), np.random.default_rng(100 + index), index)
        )
        frames = [_camera_round_trip(jpeg) for _, jpeg in draft.frames]
        held = [frames[0]] * int(STILL_S * FPS) + frames + [frames[-1]] * int(HOLD_S * FPS)
        timed = [(i * 1000 // FPS, cv2.imencode(".jpg", f)[1].tobytes()) for i, f in enumerate(held)]
        recording = RecordedSession.load(
            write_session(work_dir / str(index), str(index), draft.challenge, 0, timed)
        )
        if replay_offline(recording, analyzer).outcome == "pass":
            return draft.challenge, held
    raise AssertionError(f"none of {GENUINE_CANDIDATES} generated genuine sessions passes offline")


async def test_browser_genuine_session_passes_and_page_shows_it(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    challenge, frames = _genuine_recording(analyzer, tmp_path / "candidates")
    camera_file = write_y4m(tmp_path / "genuine.y4m", frames)

    def recorded_challenge(width: int, height: int) -> Challenge:
        assert (width, height) == (challenge.image_width, challenge.image_height)
        return challenge

    async with gateway(stack, recorded_challenge) as url, browser_page(url, camera_file) as (page, errors):
        stats = await take_challenge(page, shoot_steps=True)
        title = await shadow_text(page, "result-title")
        await shoot(page, "result-pass")
    assert (stats["decision"]["outcome"], stats["decision"]["reason"]) == ("pass", "PASSED"), stats[
        "decision"
    ]
    steps = len(challenge.targets) or 1
    assert stats["steps"] == steps and stats["step"] == steps - 1, "the page showed every target in turn"
    assert stats["shownSteps"] == list(range(1, steps + 1)), "a screenshot of each step"
    assert title == "You passed"
    assert errors == []
    latencies = report_latency(stats, "genuine", record_property)
    assert latencies["deciding_frame_to_decision_ms"] < 5_000
