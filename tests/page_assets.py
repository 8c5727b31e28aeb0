"""What a page loads (scripts, stylesheets, icons), and fetching it from a running server."""

import urllib.error
import urllib.request
from html.parser import HTMLParser


class _AssetCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        elif tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


def asset_urls(html: str) -> list[str]:
    """The src of every <script> and the href of every <link> (stylesheets, icons)."""
    collector = _AssetCollector()
    collector.feed(html)
    return collector.urls


def fetch(base_ws_url: str, path: str) -> tuple[int, bytes]:
    """GET `path` from a test server (as started by tests/conftest.py: its ws:// URL)."""
    url = base_ws_url.replace("ws://", "http://") + path
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""
