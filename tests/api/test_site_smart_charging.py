"""Staff API for smart charging: a site's limits (PATCH sites/{id}/), its dynamic limit
(PUT sites/{id}/dynamic-limit/) and its allocation (GET sites/{id}/allocation/)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CustomerGroup
from stations import load_balancing
from stations.models import ChargePoint, ChargingSession, Connector, Site
from users.models import IdToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user, client_for):
    user = make_user("stations.view_site", "stations.change_site", is_staff=True)
    return client_for(user)


def _site(name: str = "Smart", **fields) -> Site:
    site = Site.objects.create(name=name, **fields)
    for i in range(4):
        charge_point = ChargePoint.objects.create(charge_point_id=f"{name}-{i}", site=site)
        Connector.objects.create(charge_point=charge_point, connector_id=1)
    return site


def test_staff_set_a_sites_limit_phases_and_minimum(staff):
    site = _site()
    url = f"/api/v1/sites/{site.pk}/"
    answer = staff.patch(
        url, {"grid_limit_amps": "63", "phases": 3, "min_amps": "8"}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["grid_limit_amps"], body["phases"], body["min_amps"]) == ("63.0", 3, "8.0")
    assert body["limit_now_amps"] == "63.0" and body["limit_warning"] == ""
    site.refresh_from_db()
    assert site.grid_limit_amps == 63


@pytest.mark.parametrize(
    "change",
    [
        {"grid_limit_amps": "-1"},
        {"grid_limit_amps": "5001"},
        {"grid_limit_amps": "lots"},
        {"grid_limit_amps": "1e400"},
        {"phases": 2},
        {"min_amps": "-6"},
        {"min_amps": "81"},
    ],
)
def test_negative_or_absurd_limits_are_400(staff, change):
    site = _site()
    answer = staff.patch(f"/api/v1/sites/{site.pk}/", change, format="json")
    assert answer.status_code == 400
    assert set(answer.json()) == set(change)


def test_a_limit_below_the_minimums_is_accepted_and_explained(staff):
    site = _site()
    answer = staff.patch(f"/api/v1/sites/{site.pk}/", {"grid_limit_amps": "20"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["limit_warning"] == (
        "At 20.0 A per phase, 3 of the 4 connectors on a phase can charge at once "
        "(6 A each); the others wait."
    )


def test_a_dynamic_limit_lowers_the_site_until_it_lapses(staff):
    site = _site(grid_limit_amps=Decimal(63))
    url = f"/api/v1/sites/{site.pk}/dynamic-limit/"
    until = timezone.now() + timedelta(hours=2)
    answer = staff.put(url, {"amps": 40, "until": until.isoformat()}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["dynamic_limit_amps"] == "40.0"
    assert answer.json()["limit_now_amps"] == "40.0"
    cleared = staff.put(url, {"amps": None}, format="json")
    assert cleared.json()["dynamic_limit_amps"] is None
    assert cleared.json()["limit_now_amps"] == "63.0"


@pytest.mark.parametrize(
    "body",
    [
        {"amps": -5},
        {"amps": 100000},
        {"amps": "forty"},
        {"amps": 40, "until": "2020-01-01T00:00:00Z"},
        {"amps": 40, "until": "tomorrow"},
        {},
    ],
)
def test_bad_dynamic_limits_are_400(staff, body):
    site = _site(grid_limit_amps=Decimal(63))
    answer = staff.put(f"/api/v1/sites/{site.pk}/dynamic-limit/", body, format="json")
    assert answer.status_code == 400
    site.refresh_from_db()
    assert site.dynamic_limit_amps is None


def test_a_dynamic_limit_on_a_site_without_a_grid_limit_is_400(staff):
    site = _site()
    answer = staff.put(f"/api/v1/sites/{site.pk}/dynamic-limit/", {"amps": 10}, format="json")
    assert answer.status_code == 400
    assert "grid limit first" in answer.json()["detail"]


def test_without_the_change_permission_no_limit_is_set(make_user, client_for):
    site = _site(grid_limit_amps=Decimal(63))
    reader = client_for(make_user("stations.view_site", is_staff=True))
    url = f"/api/v1/sites/{site.pk}/"
    assert reader.put(f"{url}dynamic-limit/", {"amps": 10}, format="json").status_code == 403
    assert reader.patch(url, {"grid_limit_amps": 1}, format="json").status_code == 403
    assert reader.get(f"{url}allocation/").status_code == 200


def test_a_put_on_the_site_itself_is_not_allowed(staff):
    site = _site()
    assert staff.put(f"/api/v1/sites/{site.pk}/", {"name": "x"}, format="json").status_code == 405


def test_the_allocation_lists_each_connector_with_its_share_and_priority(staff, make_user):
    site = _site(grid_limit_amps=Decimal(63))
    fleet_driver = make_user()
    CustomerGroup.objects.create(name="Taxis", kind="fleet", charging_priority=2).members.add(
        fleet_driver
    )
    token = IdToken.objects.create(uid="FLEET-1", owner=fleet_driver)
    connector = Connector.objects.get(charge_point__charge_point_id="Smart-0")
    ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag="FLEET-1",
        id_token=token,
        started_at=timezone.now(),
        meter_start_wh=0,
    )
    # The chargers are offline: counted at what they hold (the 0 A default), nothing sent.
    load_balancing.allocate_site(site)
    answer = staff.get(f"/api/v1/sites/{site.pk}/allocation/")
    assert answer.status_code == 200
    rows = answer.json()
    assert [(r["charge_point"], r["connector_id"], r["priority"]) for r in rows] == [
        ("Smart-0", 1, 2),
        ("Smart-1", 1, 0),
        ("Smart-2", 1, 0),
        ("Smart-3", 1, 0),
    ]
    assert set(rows[0]) >= {"limit_amps", "drawn_amps", "accepted_amps", "waiting"}
    assert rows[0]["limit_amps"] == "0.0" and rows[0]["session"] is not None
