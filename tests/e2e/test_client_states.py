"""Each state a person goes through in the <liveness-check> component, in headless Chromium.

The camera states use Chromium's own behaviour (a refused prompt, no capture device);
only "camera in use" is simulated, by a getUserMedia that fails as an occupied camera
makes it fail (NotReadableError), since a fake device cannot be held by another app.
The framing states play a y4m of one scene through the real gateway, processor and
verifier, and wait for the hint that scene must produce. Every state is shot at
390x844 and 1280x800 (``docs/screenshots/client/``, with LIVENESS_UPDATE_SCREENSHOTS).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from browser_helpers import (
    DECISION_TIMEOUT_MS,
    axe_violations,
    browser_page,
    gateway,
    scene,
    shadow_text,
    shoot,
    wait_hint,
    wait_state,
    write_y4m,
)
from playwright.async_api import Page, WebSocketRoute

from devtools.broker import free_ports
from devtools.stack import Stack
from processors.landmarks import FaceAnalyzer
from producers.challenge_service import ChallengePolicy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAMERA_IN_USE = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Could not start video source", "NotReadableError"));
"""


def _camera(analyzer: FaceAnalyzer, tmp_path: Path, name: str) -> Path:
    return write_y4m(tmp_path / f"{name}.y4m", [scene(analyzer, name)] * 10)


async def _assert_accessible(page: Page) -> None:
    violations = await axe_violations(page)
    assert violations == [], violations


async def test_client_start_screen_keyboard_and_accessible(stack: Stack, tmp_path: Path) -> None:
    """The start screen says what happens, how long and what is kept; no camera until Start."""
    async with (
        gateway(stack) as url,
        browser_page(url, init_script=CAMERA_IN_USE, reduced_motion=True) as (page, errors),
    ):
        await page.wait_for_function("() => window.liveness && window.liveness.state === 'start'")
        text = await page.locator(".card").inner_text()
        assert "20 seconds" in text and "nothing is saved on your device" in text
        assert await page.evaluate("() => window.liveness.announcements.length") == 0
        await _assert_accessible(page)
        await shoot(page, "start")
        # Reduced motion: no pulsing hint, no animated progress.
        duration = await page.evaluate(
            """() => getComputedStyle(document.querySelector('liveness-check').shadowRoot
                 .querySelector('.progress')).transitionDuration"""
        )
        assert duration == "0s"
        # Keyboard only: Tab reaches Start, Enter presses it, focus lands on the next screen's title.
        await page.keyboard.press("Tab")
        assert (
            await page.evaluate("() => document.querySelector('liveness-check').shadowRoot.activeElement.id")
            == "start"
        )
        await page.keyboard.press("Enter")
        await wait_state(page, "error", timeout_ms=10_000)
        focused = await page.evaluate(
            "() => document.querySelector('liveness-check').shadowRoot.activeElement.id"
        )
        assert focused == "problem-title"
    assert errors == []


@pytest.mark.parametrize(
    ("name", "browser", "title"),
    [
        ("camera-denied", {"accept_camera": False}, "Camera access is blocked"),
        ("camera-missing", {"fake_device": False}, "No camera found"),
        ("camera-busy", {"init_script": CAMERA_IN_USE}, "The camera is in use"),
    ],
)
async def test_client_camera_problem_shows_its_screen(
    stack: Stack, name: str, browser: dict[str, object], title: str
) -> None:
    async with gateway(stack) as url, browser_page(url, **browser) as (page, errors):  # type: ignore[arg-type]
        events = await _record_events(page)
        await page.click("#start")
        await wait_state(page, "error", timeout_ms=15_000)
        assert await page.evaluate("() => window.liveness.error") == name
        assert await shadow_text(page, "problem-title") == title
        assert await page.locator("#problem-retry").is_visible()
        assert (await events())[-1] == {"type": "liveness-error", "code": name}
        await _assert_accessible(page)
        await shoot(page, name)
    assert errors == []


async def _record_events(page: Page):  # type: ignore[no-untyped-def]
    """Start recording the component's events; returns a function that reads them."""
    await page.evaluate(
        """() => { window.events = [];
            for (const type of ["liveness-progress", "liveness-decided", "liveness-error"])
              document.addEventListener(type, e => window.events.push({type, code: e.detail.code})); }"""
    )

    async def read() -> list[dict[str, object]]:
        events = await page.evaluate("window.events")
        return [{key: value for key, value in e.items() if value is not None} for e in events]

    return read


@pytest.mark.parametrize(
    ("name", "hint", "sentence"),
    [
        ("too_far", "move_closer", "You are too far: move closer"),
        ("too_close", "move_back", "You are too close: move back a little"),
        ("off_centre", "centre_face", "Centre your face in the frame"),
        ("too_dark", "too_dark", "It is too dark: turn towards a light"),
    ],
)
async def test_client_framing_hint_is_shown_and_announced(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path, name: str, hint: str, sentence: str
) -> None:
    camera_file = _camera(analyzer, tmp_path, name)
    async with gateway(stack) as url, browser_page(url, camera_file) as (page, errors):
        await page.click("#start")
        await wait_hint(page, hint)
        assert sentence in await shadow_text(page, "hint")
        assert await page.get_attribute("#hint", "aria-live") == "polite"
        if name == "too_dark":
            assert await page.evaluate("() => window.liveness.brightness") < 55
        await shoot(page, f"framing-{name.replace('_', '-')}")
    assert errors == []


async def test_client_two_faces_fail_with_their_sentence(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    """A second face is refused at once by the verifier; the page said so, then says why it failed."""
    camera_file = _camera(analyzer, tmp_path, "two_faces")
    async with gateway(stack) as url, browser_page(url, camera_file) as (page, errors):
        await page.click("#start")
        await wait_state(page, "decided")
        stats = await page.evaluate("() => window.liveness")
        assert stats["decision"]["reason"] == "MULTIPLE_FACES"
        assert any("Only one face" in said for said in stats["announcements"])
        assert await shadow_text(page, "result-title") == "Not passed"
        assert "More than one face was seen" in await shadow_text(page, "result-text")
        assert await page.locator("#retry").is_visible()
        await _assert_accessible(page)
        await shoot(page, "result-two-faces")
    assert errors == []


async def test_client_connection_lost_mid_session(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    """The stream drops while the person is framing: the page says so and offers a new session."""
    camera_file = _camera(analyzer, tmp_path, "off_centre")
    routes: list[WebSocketRoute] = []

    def relay(route: WebSocketRoute) -> None:
        route.connect_to_server()
        routes.append(route)

    async with gateway(stack) as url, browser_page(url, camera_file) as (page, errors):
        await page.route_web_socket("**/stream*", relay)
        await page.click("#start")
        await page.wait_for_function("() => window.liveness.feedbackMs.length >= 3", timeout=30_000)
        await routes[0].close(code=1006, reason="")  # as a dropped network connection
        await wait_state(page, "error", timeout_ms=10_000)
        assert await page.evaluate("() => window.liveness.error") == "lost"
        assert await shadow_text(page, "problem-title") == "The connection was lost"
        await shoot(page, "connection-lost")
        first = await page.evaluate("() => window.liveness.sessionId")
        await page.click("#problem-retry")  # a new session: a stream is never resumed
        await page.wait_for_function(
            "first => window.liveness.sessionId && window.liveness.sessionId !== first", arg=first
        )
    assert errors == []


async def test_client_session_expired(stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    """A session whose start window is over is refused (4410): the page says it expired."""
    camera_file = _camera(analyzer, tmp_path, "off_centre")
    expired_at_once = ChallengePolicy(start_within_s=0.001)
    async with (
        gateway(stack, policy=expired_at_once) as url,
        browser_page(url, camera_file) as (page, errors),
    ):
        await page.click("#start")
        await wait_state(page, "error", timeout_ms=30_000)
        assert await page.evaluate("() => [window.liveness.error, window.liveness.closeCode]") == [
            "expired",
            4410,
        ]
        assert await shadow_text(page, "problem-title") == "The session expired"
        await shoot(page, "session-expired")
    assert errors == []


# ---- a platform's page on another origin -------------------------------------------------------

EMBEDDING_PAGE = """<!doctype html>
<html lang="es">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Plataforma de ejemplo</title>
  <link rel="icon" href="data:,">
  <style>
    body {{ margin: 0; font-family: Georgia, serif; background: #fbf8f3; color: #222; }}
    main {{ max-width: 760px; margin: 0 auto; padding: 12px; }}
    liveness-check {{ --liveness-accent: #5b2a86; --liveness-bg: #1d1b22; --liveness-radius: 6px; }}
  </style>
  <script type="module" src="{gateway}/static/liveness-check.js"></script>
</head>
<body>
  <main>
    <h1>Abre tu cuenta</h1>
    <liveness-check></liveness-check>
  </main>
  <script type="module">
    const check = document.querySelector("liveness-check");
    window.received = [];
    // The platform's backend creates the session; the component only streams it.
    check.sessionProvider = async (size) => {{
      const response = await fetch("/liveness-session", {{
        method: "POST", headers: {{"Content-Type": "application/json"}}, body: JSON.stringify(size),
      }});
      return response.json();
    }};
    for (const type of ["liveness-progress", "liveness-decided", "liveness-error"]) {{
      check.addEventListener(type, (event) => window.received.push({{type, detail: event.detail}}));
    }}
  </script>
</body>
</html>"""


@asynccontextmanager
async def platform(gateway_url: str) -> AsyncIterator[tuple[str, list[dict[str, object]]]]:
    """A plain page on a second origin and its backend, which creates sessions on the gateway."""
    created: list[dict[str, object]] = []

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=EMBEDDING_PAGE.format(gateway=gateway_url), content_type="text/html")

    async def liveness_session(request: web.Request) -> web.Response:
        async with aiohttp.ClientSession() as http:  # server to server: no CORS involved
            response = await http.post(f"{gateway_url}/sessions", json=await request.json())
            session = await response.json()
        created.append(session)
        return web.json_response(session, status=response.status)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_post("/liveness-session", liveness_session)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_ports(1)[0]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", created
    finally:
        await runner.cleanup()


async def test_client_embedded_on_another_origin_receives_the_decision(
    stack: Stack, analyzer: FaceAnalyzer, tmp_path: Path
) -> None:
    """A platform's page on a second port loads the component from the gateway, in Spanish."""
    camera_file = _camera(analyzer, tmp_path, "two_faces")
    async with (
        gateway(stack) as gateway_url,
        platform(gateway_url) as (platform_url, created),
        browser_page(platform_url, camera_file) as (page, errors),
    ):
        await page.wait_for_function("() => customElements.get('liveness-check') !== undefined")
        assert await shadow_text(page, "start") == "Empezar"
        await page.click("#start")
        await page.wait_for_function(
            "() => window.received.some(e => e.type === 'liveness-decided')", timeout=DECISION_TIMEOUT_MS
        )
        received = await page.evaluate("() => window.received")
        assert await shadow_text(page, "result-title") == "Prueba no superada"
        await _assert_accessible(page)
        await shoot(page, "embedded-es")
    [decided] = [e["detail"] for e in received if e["type"] == "liveness-decided"]
    assert [s["session_id"] for s in created] == [decided["sessionId"]]
    assert decided["decision"]["session_id"] == decided["sessionId"]
    assert decided["decision"]["reason"] == "MULTIPLE_FACES"
    assert {"kind", "v", "outcome", "checks"} <= set(decided["decision"]), "the decision as received"
    states = [e["detail"]["state"] for e in received if e["type"] == "liveness-progress"]
    assert states[:2] == ["camera", "connecting"] and states[-1] == "decided"
    assert errors == []
