"""Drivers' searches, portal and API, are kept on a coarse grid with nothing personal:
what site planning and "sessions turned away" read."""

from decimal import Decimal

import pytest
from django.test import Client

from insights.models import SearchRecord
from stations.models import ChargePoint, Connector, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_site() -> Site:
    site = Site.objects.create(name="Busy", latitude=Decimal("59.33"), longitude=Decimal("18.07"))
    charge_point = ChargePoint.objects.create(charge_point_id="CP-SEARCH", site=site)
    Connector.objects.create(
        charge_point=charge_point, connector_id=1, status=Connector.Status.CHARGING
    )
    return site


def test_a_portal_search_near_me_is_recorded_on_its_grid_cell_without_the_driver(
    busy_site, client: Client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(
            "/stations/", {"near": "59.334567,18.061234", "connector_type": "Type2"}
        )
    assert response.status_code == 200
    record = SearchRecord.objects.get()
    assert (record.cell_latitude, record.cell_longitude) == (Decimal("59.33"), Decimal("18.06"))
    assert record.connector_type == "Type2"
    assert record.found_free is False  # the only connector is charging
    assert record.hour.minute == record.hour.second == 0
    assert {f.name for f in SearchRecord._meta.fields} == {
        "id",
        "hour",
        "cell_latitude",
        "cell_longitude",
        "connector_type",
        "found_free",
    }


def test_an_api_search_is_recorded_once_and_a_free_connector_counts(
    busy_site, client: Client, django_capture_on_commit_callbacks
):
    Connector.objects.filter(charge_point__charge_point_id="CP-SEARCH").update(status="Available")
    ChargePoint.objects.filter(charge_point_id="CP-SEARCH").update(
        is_connected=True, last_seen_at=None
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert client.get("/api/v1/stations/", {"near": "-33.9,151.2"}).status_code == 200
        assert client.get("/api/v1/stations/").status_code == 200  # no search: the whole list
    record = SearchRecord.objects.get()
    assert (record.cell_latitude, record.cell_longitude) == (Decimal("-33.90"), Decimal("151.20"))
    assert record.connector_type == ""
