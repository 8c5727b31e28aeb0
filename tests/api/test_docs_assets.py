"""The API docs (/api/docs/, Swagger UI) load their scripts and styles from our own
/static/ (drf-spectacular-sidecar), not from a CDN: they work without one, and no
visitor's browser is sent to a third party. Swagger UI's start-up script comes from the
docs view itself (DOCS_SCRIPT), not inline: the Content-Security-Policy runs no inline
scripts."""

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from tests.page_assets import asset_urls, fetch

pytestmark = pytest.mark.django_db

DOCS_SCRIPT = "/api/docs/?script="


def test_api_docs_load_swagger_ui_only_from_our_static_files(anonymous):
    response = anonymous.get("/api/docs/")

    assert response.status_code == 200
    urls = asset_urls(response.content.decode())
    assert DOCS_SCRIPT in urls
    urls.remove(DOCS_SCRIPT)
    assert any(url.endswith("/swagger-ui-bundle.js") for url in urls)
    assert any(url.endswith("/swagger-ui.css") for url in urls)
    assert [url for url in urls if not url.startswith(settings.STATIC_URL)] == []
    for url in urls:
        assert finders.find(url.removeprefix(settings.STATIC_URL)), url


def test_the_development_server_serves_the_api_docs_assets(anonymous, ocpp_server):
    urls = asset_urls(anonymous.get("/api/docs/").content.decode())

    for url in urls:
        status, body = fetch(ocpp_server, url)
        assert status == 200, url
        if url == DOCS_SCRIPT:
            assert b"SwaggerUIBundle" in body
            continue
        path = finders.find(url.removeprefix(settings.STATIC_URL))
        with open(path, "rb") as file:
            assert body == file.read(), url


def test_api_docs_start_with_getting_started(anonymous):
    schema = anonymous.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    description = schema["info"]["description"]
    assert "## Getting started" in description
    assert "Authorization: Token <key>" in description
    # Every call it names exists.
    for path in ("/api/v1/stations/", "/api/v1/me/sessions/", "/api/v1/me/sessions/start/"):
        assert path in schema["paths"], path
    assert "/api/v1/charge-points/{id}/commands/" in schema["paths"]
