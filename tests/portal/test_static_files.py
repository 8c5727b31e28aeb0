"""The portal's CSS and JS under `make run` (DEBUG, no proxy) are served by
`manage.py serve` itself; in production the proxy serves /static/ (README)."""

import urllib.error
import urllib.request


def fetch(base_ws_url: str, path: str) -> tuple[int, str]:
    url = base_ws_url.replace("ws://", "http://") + path
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_the_development_server_serves_the_portal_stylesheet_and_scripts(ocpp_server):
    assert fetch(ocpp_server, "/static/portal/portal.css") == (200, "text/css")
    status, content_type = fetch(ocpp_server, "/static/portal/live.js")
    assert status == 200 and "javascript" in content_type


def test_without_debug_static_files_are_left_to_the_proxy(start_server):
    server = start_server(DEBUG="0", SECRET_KEY="a-production-like-secret-key-for-this-test")
    assert fetch(server, "/static/portal/portal.css")[0] == 404
    assert fetch(server, "/health/")[0] == 200
