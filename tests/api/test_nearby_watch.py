"""GET/PUT/PATCH/DELETE /api/v1/me/nearby-watch/: a free charger near me for apps, by the
portal's rules (tests/notifications/test_nearby.py has the matching)."""

import json

import pytest
from django.test import Client

from notifications.models import NearbyWatch

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/nearby-watch/"


def call(client: Client, method: str, body: object = None):
    return getattr(client, method)(URL, json.dumps(body), content_type="application/json")


def test_start_read_move_and_stop_a_watch(driver, driver_client):
    assert driver_client.get(URL).status_code == 404
    started = call(
        driver_client,
        "put",
        {"latitude": 57.7, "longitude": 11.97, "radius_km": 3, "connector_type": "CCS2"},
    )
    assert started.status_code == 200
    assert started.json()["radius_km"] == "3.0"
    assert started.json()["connector_type"] == "CCS2"
    assert driver_client.get(URL).json()["latitude"] == 57.7

    moved = call(driver_client, "patch", {"latitude": 57.8, "longitude": 12.0})
    assert moved.status_code == 200  # accepted; written at most every 30 s

    assert driver_client.delete(URL).status_code == 204
    assert not NearbyWatch.objects.exists()
    assert call(driver_client, "patch", {"latitude": 57.8, "longitude": 12.0}).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"latitude": 91, "longitude": 11.97, "radius_km": 3},
        {"latitude": 57.7, "longitude": -181, "radius_km": 3},
        {"latitude": 57.7, "longitude": 11.97, "radius_km": 500},
        {"latitude": 57.7, "longitude": 11.97, "radius_km": 3, "connector_type": "Steam"},
        {"latitude": "NaN", "longitude": 11.97, "radius_km": 3},
        {"latitude": None, "longitude": 11.97, "radius_km": 3},
        [],
    ],
)
def test_a_malformed_watch_is_a_400(driver_client, body):
    assert call(driver_client, "put", body).status_code == 400
    assert not NearbyWatch.objects.exists()


def test_a_nan_in_the_json_itself_is_a_400(driver_client):
    response = driver_client.put(
        URL,
        '{"latitude": NaN, "longitude": 11.97, "radius_km": 3}',
        content_type="application/json",
    )
    assert response.status_code == 400


def test_needs_a_login(client):
    assert client.get(URL).status_code in (401, 403)
