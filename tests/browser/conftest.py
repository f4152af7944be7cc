"""The operators' console in a real browser (issue 14): the whole suite (as `make dev` runs it) and headless
Chromium — Debian's ``/usr/bin/chromium`` driven by Playwright, never a downloaded browser (``make test`` installs
chromium and a Chinese font when they are missing). Every request the page makes is recorded, and a test fails if
any leaves 127.0.0.1 (government networks are closed: no CDN, no web font). Screenshots go to
``test-artefacts/console/`` (gitignored); their paths are printed in the test output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, async_playwright

from tests.e2e.conftest import client, suite

__all__ = ["client", "suite"]  # the e2e fixtures, reused here: the whole suite as `make dev` runs it

CHROMIUM = "/usr/bin/chromium"
# As /work/.library/env/machines/python.md "Known to work": without the background-networking flags Chromium
# tries Google's hosts at start, which this machine's closed network refuses (and which we would record).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "console"
LOCAL_HOSTS = {"127.0.0.1"}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Recorded:
    """What the page did: every request's URL, and every uncaught script error."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []

    def off_host(self) -> list[str]:
        return [u for u in self.urls if urlsplit(u).scheme not in ("data", "blob", "about")
                and urlsplit(u).hostname not in LOCAL_HOSTS]


@pytest.fixture
async def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
async def page(browser: Browser, recorded: Recorded) -> AsyncIterator[Page]:
    """A fresh page (its own sessionStorage) at 1440×1000. Off-host requests are recorded and refused, and the
    test fails on any of them, or on any uncaught script error."""
    context: BrowserContext = await browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")

    def on_request(request: Request) -> None:
        recorded.urls.append(request.url)

    context.on("request", on_request)

    async def refuse_off_host(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        await (route.continue_() if host in LOCAL_HOSTS else route.abort())

    await context.route("**/*", refuse_off_host)
    opened = await context.new_page()
    opened.on("pageerror", lambda error: recorded.errors.append(str(error)))
    try:
        yield opened
    finally:
        await context.close()
    assert recorded.off_host() == [], f"requests left 127.0.0.1: {recorded.off_host()}"
    assert recorded.errors == [], f"script errors in the page: {recorded.errors}"


async def screenshot(page: Page, name: str) -> Path:
    """Saves a full-page screenshot as test-artefacts/console/<name>.png and prints where (look at them: Chinese
    must render and nothing may overlap)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    SAVED.append(path)
    return path


SAVED: list[Path] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the screenshots are, at the end of the test output."""
    if SAVED:
        terminalreporter.section("console screenshots")
        for path in SAVED:
            terminalreporter.write_line(str(path))
