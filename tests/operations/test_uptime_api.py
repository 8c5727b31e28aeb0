"""GET /api/v1/uptime/: one charger's or one site's ports in a month."""

from datetime import datetime

import pytest
from rest_framework.test import APIClient

from operations.models import OutageExclusion
from stations.models import Site
from tests.operations.uptime_history import STOCKHOLM, charger, commissioned, local, status

URL = "/api/v1/uptime/"


@pytest.fixture
def staff_client(make_user):
    client = APIClient()
    client.force_authenticate(make_user("operations.view_uptimemonth", is_staff=True))
    return client


@pytest.fixture
def network(db):
    """Two chargers at one site, May 2026: CP-A port 1 faulted 150 min of which 90 are a
    grid outage; CP-B port 1 unavailable 60 min."""
    site = Site.objects.create(name="Kista", time_zone="Europe/Stockholm")
    a = charger("CP-A", ports=2, site=site)
    b = charger("CP-B", ports=1, site=site)
    for cp in (a, b):
        commissioned(cp, local(2026, 4, 1, 0, 0))
    status(a, 1, local(2026, 5, 10, 10, 0), "Faulted", "GroundFailure")
    status(a, 1, local(2026, 5, 10, 12, 30), "Available")
    status(b, 1, local(2026, 5, 20, 8, 0), "Unavailable")
    status(b, 1, local(2026, 5, 20, 9, 0), "Available")
    OutageExclusion.objects.create(
        charge_point=a,
        cause=OutageExclusion.Cause.GRID_OUTAGE,
        reason="Substation fault",
        starts_at=local(2026, 5, 10, 11, 0),
        ends_at=local(2026, 5, 10, 14, 0),
    )
    return site


def ports(body):
    return {
        (c["charge_point"], c["connector_id"]): (
            c["uptime_percent"],
            c["outage_minutes"],
            c["excluded_minutes"],
        )
        for c in body["connectors"]
    }


@pytest.mark.django_db
def test_a_chargers_ports_in_a_month(staff_client, network):
    response = staff_client.get(URL, {"charge_point": "CP-A", "month": "2026-05"})

    assert response.status_code == 200
    body = response.json()
    assert ports(body) == {
        # (44640 - (150 - 90)) / 44640 = 99.8655… → 99.86
        ("CP-A", 1): ("99.86", "150.00", "90.00"),
        ("CP-A", 2): ("100.00", "0.00", "0.00"),
    }
    assert body["month"] == "2026-05" and body["time_zone"] == "Europe/Stockholm"
    assert body["charge_point"] == "CP-A" and body["site"] is None
    assert body["connectors"][0]["minutes"] == "44640.00"
    # Two ports: (89280 - 60) / 89280 = 99.9327… → 99.93
    assert (body["uptime_percent"], body["outage_minutes"], body["excluded_minutes"]) == (
        "99.93",
        "150.00",
        "90.00",
    )


@pytest.mark.django_db
def test_a_sites_ports_in_a_month(staff_client, network):
    body = staff_client.get(URL, {"site": network.pk, "month": "2026-05"}).json()

    assert ports(body) == {
        ("CP-A", 1): ("99.86", "150.00", "90.00"),
        ("CP-A", 2): ("100.00", "0.00", "0.00"),
        ("CP-B", 1): ("99.86", "60.00", "0.00"),  # 44580 / 44640 = 99.8655…
    }
    # (3 x 44640 - 120) / 133920 = 99.9103… → 99.91
    assert body["uptime_percent"] == "99.91" and body["site"] == network.pk


@pytest.mark.django_db
def test_without_a_month_it_is_this_month_so_far(staff_client, network):
    body = staff_client.get(URL, {"charge_point": "CP-B"}).json()

    assert body["month"] == f"{datetime.now(STOCKHOLM):%Y-%m}"
    assert {c["uptime_percent"] for c in body["connectors"]} == {"100.00"}


@pytest.mark.django_db
def test_a_month_before_any_port_was_seen_has_no_figures(staff_client, network):
    body = staff_client.get(URL, {"site": network.pk, "month": "2025-01"}).json()

    assert body["connectors"] == [] and body["uptime_percent"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query, complaint",
    [
        ({}, "either charge_point or site"),
        ({"charge_point": "CP-A", "site": "1"}, "either charge_point or site"),
        ({"charge_point": "CP-A", "month": "2026-13"}, "YYYY-MM"),
        ({"charge_point": "CP-A", "month": "May 2026"}, "YYYY-MM"),
        ({"site": "kista"}, "valid integer"),
        ({"site": "99999999999"}, "less than or equal"),
    ],
)
def test_bad_queries_are_400_with_a_message(staff_client, network, query, complaint):
    response = staff_client.get(URL, query)

    assert response.status_code == 400
    assert complaint in str(response.json())


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{"charge_point": "CP-NONE"}, {"site": "999999"}])
def test_an_unknown_charger_or_site_is_404(staff_client, network, query):
    assert staff_client.get(URL, query).status_code == 404


@pytest.mark.django_db
def test_only_staff_with_the_uptime_view_permission(make_user, network):
    anonymous = APIClient()
    assert anonymous.get(URL, {"charge_point": "CP-A"}).status_code == 401
    for user in (
        make_user(is_staff=True),  # staff, no permission
        make_user("operations.view_uptimemonth"),  # a driver given it
    ):
        client = APIClient()
        client.force_authenticate(user)
        assert client.get(URL, {"charge_point": "CP-A"}).status_code == 403


@pytest.mark.django_db
def test_the_endpoint_is_in_the_openapi_schema(staff_client):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/uptime/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"charge_point", "site", "month"}
    assert {"200", "400", "404"} <= set(operation["responses"])
