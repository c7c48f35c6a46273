"""A person takes the challenge in a real browser: Chromium's fake camera, the gateway, the real workers.

Chromium plays a y4m file as its camera (looping it). The gateway draws the
session's challenge through its server-side ``challenge_source`` hook, so a
recording meets the challenge it was made for; the page only ever sees the
challenge the server sent.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import statistics
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright

from evaluation.scene import ASTRONAUT_PERSON, FacePhoto, load_face_photos, place
from evaluation.species import SPECIES, Draw, Studio
from liveness.broker import free_ports
from liveness.config import KafkaSettings
from liveness.media import astronaut_path, fetch_media
from liveness.replay import replay_offline
from liveness.stack import Stack
from processors.landmarks import FaceAnalyzer
from producers.challenge_service import ChallengePolicy
from producers.gateway.server import ChallengeSource, make_app
from producers.gateway.settings import GatewaySettings
from producers.recording import RecordedSession, write_session
from schemas.events import Challenge

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
PHONE = {"width": 390, "height": 844}
FPS = 10
STILL_S, HOLD_S = 2.0, 3.0  # the page starts streaming a moment after the camera starts the file
DECISION_TIMEOUT_MS = 90_000
GENUINE_CANDIDATES = 8
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "gateway.png"
STEP_SCREENSHOTS = SCREENSHOT.parent / "sequence"


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = FPS) -> Path:
    """BGR frames as an uncompressed 4:2:0 y4m, the format of Chromium's fake camera."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="module")
def analyzer() -> Iterator[FaceAnalyzer]:
    with FaceAnalyzer() as face_analyzer:
        yield face_analyzer


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Real processor and verifier processes on topics of their own."""
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=f"e{secrets.token_hex(4)}.", partitions=2)
    with Stack(kafka=kafka, work_dir=tmp_path_factory.mktemp("stack")) as running:
        yield running
        for worker in running.workers:
            assert worker.alive(), f"{worker.role} died:\n{worker.log_tail()}"


@asynccontextmanager
async def gateway(stack: Stack, challenge_source: ChallengeSource | None = None) -> AsyncIterator[str]:
    """The gateway on a free port of this event loop; yields its base URL once it is ready."""
    app = make_app(stack.kafka, stack.keys, ChallengePolicy(), GatewaySettings(), challenge_source)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_ports(1)[0]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if (await http.get(f"{url}/readyz")).status == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError("the gateway's Kafka clients did not start within 30 s")
        yield url
    finally:
        await runner.cleanup()


@asynccontextmanager
async def phone_page(camera_file: Path, url: str) -> AsyncIterator[tuple[Page, list[str]]]:
    """A phone-sized page of headless Chromium whose camera plays ``camera_file``, and its errors."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={camera_file}"],
        )
        try:
            context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            await context.grant_permissions(["camera"], origin=url)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console", lambda message: errors.append(message.text) if message.type == "error" else None
            )
            await page.goto(url)
            yield page, errors
        finally:
            await browser.close()


async def take_challenge(page: Page, screenshot: Path | None = None, step_shots: Path | None = None) -> dict:
    """Press start, let the camera stream until the page shows the decision; returns ``window.liveness``.

    ``step_shots``: a folder that receives a screenshot as each step of a sequence is shown
    (``step-1.png`` ...) and of the result (``result.png``).
    """
    await page.click("#start")
    if screenshot is not None:
        await page.wait_for_function(
            "() => window.liveness.feedbackMs.length >= 5", timeout=DECISION_TIMEOUT_MS
        )
        await page.screenshot(path=str(screenshot))
    if step_shots is not None:
        await _shoot_steps(page, step_shots)
    await page.wait_for_function("() => window.liveness.state === 'decided'", timeout=DECISION_TIMEOUT_MS)
    if step_shots is not None:
        await page.screenshot(path=str(step_shots / "result.png"))
    return await page.evaluate("() => window.liveness")


async def _shoot_steps(page: Page, folder: Path) -> None:
    """A screenshot when each step of the challenge first shows, until the page has a decision."""
    folder.mkdir(parents=True, exist_ok=True)
    shown = -1
    while True:
        state = await page.evaluate(
            "() => [window.liveness.state, window.liveness.step, window.liveness.steps]"
        )
        if state[0] == "decided":
            return
        if state[2] and state[1] > shown:
            shown = state[1]
            await page.screenshot(path=str(folder / f"step-{shown + 1}.png"))
        await asyncio.sleep(0.05)


async def overlay_alpha(page: Page, mirrored: bool) -> int:
    """Opacity of the overlay at the nose target's centre, or at that point mirrored."""
    script = """mirrored => {
        const { nose, targets, image_width } = window.liveness.challenge;
        const box = targets ? targets[0] : nose;
        const x = box.left + box.width / 2, y = box.top + box.height / 2;
        const ctx = document.getElementById("overlay").getContext("2d");
        return ctx.getImageData(Math.round(mirrored ? image_width - x : x), Math.round(y), 1, 1).data[3];
    }"""
    return int(await page.evaluate(script, mirrored))


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


def _astronaut_frame(analyzer: FaceAnalyzer) -> np.ndarray:
    """skimage's astronaut photo, framed in the area box of a 640x480 frame as a person would be."""
    path = astronaut_path()
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    [mesh] = analyzer.mesh_points(image)
    scene = place(
        FacePhoto(path, ASTRONAUT_PERSON, image, mesh), analyzer, np.random.default_rng(7), fill=0.4
    )
    return scene.frame


async def test_browser_static_photo_fails_and_page_shows_it(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    camera_file = write_y4m(tmp_path / "static.y4m", [_astronaut_frame(analyzer)] * 20)
    async with gateway(stack) as url, phone_page(camera_file, url) as (page, errors):
        stats = await take_challenge(page, screenshot=tmp_path / "gateway.png")
        result = await page.text_content("#result")
        target_drawn = await overlay_alpha(page, mirrored=True), await overlay_alpha(page, mirrored=False)
    assert stats["decision"]["outcome"] == "fail", stats["decision"]
    assert stats["decision"]["session_id"] == stats["sessionId"]
    assert result is not None and result.startswith("✗ Not passed")
    assert errors == []
    assert target_drawn[0] > 0 and target_drawn[1] == 0, "the nose target is drawn mirrored, like the preview"
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

    async with gateway(stack, recorded_challenge) as url, phone_page(camera_file, url) as (page, errors):
        stats = await take_challenge(page, step_shots=tmp_path / "steps")
        result = await page.text_content("#result")
    assert (stats["decision"]["outcome"], stats["decision"]["reason"]) == ("pass", "PASSED"), stats[
        "decision"
    ]
    steps = len(challenge.targets) or 1
    assert stats["steps"] == steps and stats["step"] == steps - 1, "the page showed every target in turn"
    assert sorted(p.name for p in (tmp_path / "steps").glob("step-*.png")) == [
        f"step-{n}.png" for n in range(1, steps + 1)
    ]
    if os.environ.get("LIVENESS_UPDATE_SCREENSHOTS"):
        STEP_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in (tmp_path / "steps").glob("*.png"):
            shutil.copyfile(shot, STEP_SCREENSHOTS / shot.name)
    assert result is not None and result.startswith("✓ Passed")
    assert errors == []
    latencies = report_latency(stats, "genuine", record_property)
    assert latencies["deciding_frame_to_decision_ms"] < 5_000
