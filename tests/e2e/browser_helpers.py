"""Helpers of the browser tests: Chromium with a fake camera, the gateway, scenes, screenshots, axe-core.

Chromium plays a y4m file as its camera (looping it). Screenshots are taken at a
phone's 390x844 and a laptop's 1280x800 and written to ``docs/screenshots/client/``
only when ``LIVENESS_UPDATE_SCREENSHOTS`` is set.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import cv2
import numpy as np
from aiohttp import web
from playwright.async_api import Page, async_playwright

from devtools.broker import free_ports
from devtools.media import astronaut_path, default_cache_dir
from devtools.stack import Stack
from evaluation.scene import ASTRONAUT_PERSON, FacePhoto, place
from processors.landmarks import FaceAnalyzer
from producers.challenge_service import ChallengePolicy
from producers.gateway.attempts import AttemptPolicy
from producers.gateway.server import ChallengeSource, make_app
from producers.gateway.settings import GatewaySettings

CHROMIUM = "/usr/bin/chromium"
BASE_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAKE_UI = "--use-fake-ui-for-media-stream"  # accept the camera prompt; without it the prompt is refused
FAKE_DEVICE = "--use-fake-device-for-media-stream"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
FPS = 10
DECISION_TIMEOUT_MS = 90_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "client"
AXE_VERSION = "4.10.3"  # installed by ./run test (npm, pinned)
AXE_JS = default_cache_dir() / "npm" / "node_modules" / "axe-core" / "axe.min.js"


def write_y4m(path: Path, frames: Sequence[np.ndarray], fps: int = FPS) -> Path:
    """BGR frames as an uncompressed 4:2:0 y4m, the format of Chromium's fake camera."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


# ---- scenes: skimage's astronaut photo, framed as a person would be, then moved ----------------


def astronaut_frame(analyzer: FaceAnalyzer) -> np.ndarray:
    """skimage's astronaut photo, framed in the area box of a 640x480 frame as a person would be."""
    path = astronaut_path()
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    [mesh] = analyzer.mesh_points(image)
    scene = place(
        FacePhoto(path, ASTRONAUT_PERSON, image, mesh), analyzer, np.random.default_rng(7), fill=0.4
    )
    return scene.frame


def _zoom(frame: np.ndarray, scale: float, shift_x: float = 0.0) -> np.ndarray:
    """The frame scaled about its face-height centre and shifted sideways, edges reflected."""
    height, width = frame.shape[:2]
    cx, cy = width / 2, height / 2
    matrix = np.float32([[scale, 0, (1 - scale) * cx + shift_x], [0, scale, (1 - scale) * cy]])
    return cv2.warpAffine(frame, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def scene(analyzer: FaceAnalyzer, name: str) -> np.ndarray:
    """A camera picture for one framing state (checked with FaceMesh when written; see the tests)."""
    frame = astronaut_frame(analyzer)
    if name == "too_far":  # face fills ~15% of the area box: under the 20% minimum
        return _zoom(frame, 0.6)
    if name == "too_close":  # face box larger than the area box
        return _zoom(frame, 1.7)
    if name == "off_centre":  # face beside the area box
        return _zoom(frame, 1.0, shift_x=190)
    if name == "two_faces":
        half = frame[:, 160:480]
        return np.hstack([half, half])
    if name == "too_dark":  # mean luma ~33 of 255: FaceMesh still finds the face, the page says it is dark
        return (frame * 0.22).astype(np.uint8)
    raise ValueError(name)


# ---- the gateway, the browser -------------------------------------------------------------------


@asynccontextmanager
async def gateway(
    stack: Stack, challenge_source: ChallengeSource | None = None, policy: ChallengePolicy | None = None
) -> AsyncIterator[str]:
    """The gateway on a free port of this event loop; yields its base URL once it is ready."""
    # The gateway's own page creates its sessions (demo mode); every test is from 127.0.0.1.
    settings = GatewaySettings(demo_mode=True, attempts=AttemptPolicy(max_failed_per_address=10_000))
    app = make_app(stack.kafka, stack.keys, policy or ChallengePolicy(), settings, challenge_source)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
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
async def browser_page(
    url: str,
    camera_file: Path | None = None,
    *,
    accept_camera: bool = True,
    fake_device: bool = True,
    init_script: str | None = None,
    reduced_motion: bool = False,
) -> AsyncIterator[tuple[Page, list[str]]]:
    """A phone-sized page of headless Chromium, and the page's errors.

    ``camera_file``: the y4m the fake camera plays. ``accept_camera=False``: the camera
    prompt is refused, as when a person says no. ``fake_device=False``: no camera at all.
    """
    flags = [*BASE_FLAGS]
    if accept_camera:
        flags.append(FAKE_UI)
    if fake_device:
        flags.append(FAKE_DEVICE)
    if camera_file is not None:
        flags.append(f"--use-file-for-fake-video-capture={camera_file}")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            context = await browser.new_context(
                viewport=PHONE, has_touch=True, reduced_motion="reduce" if reduced_motion else None
            )
            if accept_camera:
                await context.grant_permissions(["camera"], origin=url)
            if init_script:
                await context.add_init_script(init_script)
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


async def wait_state(page: Page, *states: str, timeout_ms: int = DECISION_TIMEOUT_MS) -> str:
    """Wait until ``window.liveness.state`` is one of ``states``; returns it."""
    await page.wait_for_function(
        "states => states.includes(window.liveness.state)", arg=list(states), timeout=timeout_ms
    )
    return str(await page.evaluate("() => window.liveness.state"))


async def wait_hint(page: Page, hint: str, timeout_ms: int = 30_000) -> None:
    """Wait until the page shows the hint ``hint`` (a gateway hint code, or too_dark)."""
    await page.wait_for_function("hint => window.liveness.hint === hint", arg=hint, timeout=timeout_ms)


async def shadow_text(page: Page, element_id: str) -> str:
    """The text of an element inside the component's shadow root (Playwright's locators pierce it)."""
    return (await page.locator(f"#{element_id}").first.text_content() or "").strip()


async def shoot(page: Page, name: str, both_sizes: bool = True) -> None:
    """Screenshots of the page at phone and laptop size; written to docs only when asked.

    Also checks that nothing overflows sideways at either size (a layout bug on phones).
    ``both_sizes=False``: the phone only, without resizing, for a session in motion (a
    re-layout stalls the page's capture for a few frames, which the verifier sees as a jump).
    """
    update = bool(os.environ.get("LIVENESS_UPDATE_SCREENSHOTS"))
    original = page.viewport_size or PHONE
    for label, size in (("phone", PHONE), ("desktop", DESKTOP))[: 2 if both_sizes else 1]:
        if size != page.viewport_size:
            await page.set_viewport_size(size)
        overflow = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page overflows sideways by {overflow}px at {size}"
        if update:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"))
    if original != page.viewport_size:
        await page.set_viewport_size(original)


async def axe_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's serious and critical violations on the page (shadow DOM included)."""
    assert AXE_JS.is_file(), (
        f"axe-core is missing at {AXE_JS}: `./run test` installs it "
        f"(npm install --prefix {AXE_JS.parents[2]} axe-core@{AXE_VERSION})"
    )
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(AXE_JS.read_text())  # evaluated by DevTools, so the page's CSP allows it
    violations = await page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)}))"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]
