"""The station map's Leaflet comes from our own /static/ (xstatic-leaflet), not a CDN;
only the tiles come from outside, from the tile server the settings name."""

import json
import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import override_settings
from django.urls import reverse

from tests.page_assets import asset_urls, fetch
from tests.portal.places import place

pytestmark = pytest.mark.django_db


def map_tiles(page: str) -> dict[str, str]:
    found = re.search(r'<script id="map-tiles" type="application/json">(.*?)</script>', page)
    assert found, "the page has no map-tiles settings"
    return json.loads(found.group(1))


def test_the_station_list_loads_leaflet_from_our_static_files(client):
    place("Mapped")
    urls = asset_urls(client.get(reverse("portal:stations")).content.decode())

    assert f"{settings.STATIC_URL}leaflet/leaflet.js" in urls
    assert f"{settings.STATIC_URL}leaflet/leaflet.css" in urls
    # Our own root URLs aside (the web app manifest), everything is a static file.
    assert [url for url in urls if not url.startswith((settings.STATIC_URL, "/manifest"))] == []


def test_the_development_server_serves_leaflet_and_its_marker_images(ocpp_server):
    # leaflet.css finds the marker icons at images/… beside itself.
    for name in ("leaflet.js", "leaflet.css", "images/marker-icon.png"):
        status, body = fetch(ocpp_server, f"{settings.STATIC_URL}leaflet/{name}")
        assert status == 200, name
        with open(finders.find(f"leaflet/{name}"), "rb") as file:
            assert body == file.read(), name


def test_the_map_uses_openstreetmap_tiles_by_default(client):
    tiles = map_tiles(client.get(reverse("portal:stations")).content.decode())

    assert tiles["url"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert "OpenStreetMap" in tiles["attribution"]


@override_settings(
    PORTAL_MAP_TILE_URL="https://tiles.example.org/osm/{z}/{x}/{y}.png",
    PORTAL_MAP_ATTRIBUTION="&copy; OpenStreetMap contributors, tiles by Example",
)
def test_the_tile_server_and_its_attribution_are_settings(client):
    place("Mapped")
    tiles = map_tiles(client.get(reverse("portal:stations")).content.decode())

    assert tiles == {
        "url": "https://tiles.example.org/osm/{z}/{x}/{y}.png",
        "attribution": "&copy; OpenStreetMap contributors, tiles by Example",
    }
