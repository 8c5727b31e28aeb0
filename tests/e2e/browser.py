"""Debian's Chromium driven by Playwright, for the end-to-end tests in tests/e2e.

The browser is /usr/bin/chromium (scripts/ensure-chromium installs it; `make test` runs
that first); Playwright's own browser download is never used. The machine has no
network: the browser is started with the flags that keep Chromium from calling home,
and every request to anywhere but the server under test is aborted.

`manage.py serve` serves no static files (README: the reverse proxy serves /static/ from
`collectstatic`'s folder); the browser context plays that proxy, answering /static/ from
the same files `collectstatic` would collect.
"""

import mimetypes
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from django.contrib.staticfiles import finders
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from tests.mail import mails_to, text_of

CHROMIUM = Path("/usr/bin/chromium")
MISSING_CHROMIUM = (
    f"{CHROMIUM} is missing: run scripts/ensure-chromium as root, or "
    "apt-get install --no-install-recommends chromium"
)
# No sandbox (we may be root), no GPU, and none of Chromium's own connections to the
# outside: the machine has no network, and the tests must not try to reach one.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Two shared cores: a page, a PDF or a server answer may take a while.
TIMEOUT_MS = 30_000
ROOT = Path(__file__).resolve().parent.parent.parent


def screenshots_dir() -> Path:
    folder = Path(os.environ.get("E2E_SCREENSHOTS") or ROOT / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshot(page: Page, name: str) -> Path:
    path = screenshots_dir() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def http_url(ws_url: str) -> str:
    """The server's HTTP address from the ws:// one start_server returns."""
    return "http" + ws_url.removeprefix("ws")


def localhost_url(ws_url: str) -> str:
    """The server's HTTP address by the name `localhost`, for pages that use WebAuthn.

    A security key is bound to a domain (the relying party id, allauth takes the request's
    host): an IP address such as 127.0.0.1 is not one, and the browser refuses the key.
    http://localhost is a secure context, as https would be in production.
    """
    return http_url(ws_url).replace("//127.0.0.1:", "//localhost:", 1)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def browser_context(
    browser: Browser, base_url: str, *, viewport: tuple[int, int] = (1100, 800)
) -> AsyncIterator[BrowserContext]:
    """A fresh context (no cookies) that reaches only the server at `base_url`, and in
    which the Content-Security-Policy blocks nothing; `viewport` is width, height in CSS
    pixels (390 x 844: a phone)."""
    width, height = viewport
    context = await browser.new_context(
        base_url=base_url,
        accept_downloads=True,
        locale="en-GB",
        viewport={"width": width, "height": height},
        is_mobile=width < 500,
        has_touch=width < 500,
    )
    async with only_the_server(context, base_url):
        yield context


@asynccontextmanager
async def chromium_with_push(
    base_url: str, profile: Path, push_service_args: list[str]
) -> AsyncIterator[BrowserContext]:
    """A browser with a profile in the folder `profile` whose push service is the one
    `push_service_args` name (tests/e2e/gcm.py), reaching only the server at `base_url`.

    Chromium has no Push API in a context from `new_context()` (an incognito-like one):
    the browser's own, persistent profile is the one that subscribes.
    """
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS + push_service_args,
            timeout=60_000,
            base_url=base_url,
            locale="en-GB",
        )
        async with only_the_server(context, base_url):
            yield context


@asynccontextmanager
async def only_the_server(context: BrowserContext, base_url: str) -> AsyncIterator[None]:
    """Let `context` reach only the server at `base_url` (the proxy's /static/ too), and
    fail if the Content-Security-Policy blocked anything in it; closes it at the end."""
    server = urlsplit(base_url).netloc
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)

    async def only_the_server(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.netloc != server:
            # The station list's map library comes from a CDN: without network the
            # page shows its list only, as it does for a visitor who is offline.
            await route.abort()
            return
        if url.path.startswith("/static/"):
            found = finders.find(url.path.removeprefix("/static/"))
            if found is None:
                await route.fulfill(status=404)
                return
            content_type = mimetypes.guess_type(found)[0] or "application/octet-stream"
            await route.fulfill(path=found, content_type=content_type)
            return
        await route.continue_()

    await context.route("**/*", only_the_server)
    # Whatever the Content-Security-Policy blocks, Chromium reports on the console: a page
    # whose script, style or connection the policy stops fails the test that opened it.
    blocked: list[str] = []
    context.on(
        "console",
        lambda message: (
            blocked.append(f"{message.page.url if message.page else ''}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    try:
        yield
    finally:
        await context.close()
    assert blocked == [], "\n".join(blocked)


def mailed_link(mail: Path, address: str, path: str) -> str | None:
    """The link to `path` in a mail to `address`, as the reader's mail app shows it.

    `mail` is the folder of a server started with Django's file email backend (conftest).
    """
    for message in mails_to(mail, address):
        found = re.search(rf"https?://\S+{re.escape(path)}\S+", text_of(message))
        if found:
            return found.group(0)
    return None
