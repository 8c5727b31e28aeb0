"""Smart charging in admin: a site's limits, its time-of-day limits, the allocation now,
the measured load against the limit over the last day, and the profiles sent."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from stations import load_balancing
from stations.models import (
    ChargePoint,
    ChargerCommand,
    ChargingSession,
    Connector,
    ConnectorAllocation,
    Site,
    SiteLoadSample,
)
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    user = User.objects.create_superuser(email="smart-admin@example.com", password="x" * 20)
    browser = Client()
    browser.force_login(user)
    return browser


def _form(site: Site, **changes: str) -> dict[str, str]:
    data = {
        "name": site.name,
        "country": "SE",
        "time_zone": "Europe/Stockholm",
        "open_24_7": "on",
        "phases": "3",
        "opening_hours-TOTAL_FORMS": "0",
        "opening_hours-INITIAL_FORMS": "0",
        "limit_periods-TOTAL_FORMS": "0",
        "limit_periods-INITIAL_FORMS": "0",
    }
    return data | changes


def test_staff_set_a_limit_and_an_evening_limit_and_see_the_allocation(client):
    site = Site.objects.create(name="Admin smart")
    charge_point = ChargePoint.objects.create(charge_point_id="ADM-SMART", site=site)
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    url = reverse("admin:stations_site_change", args=[site.pk])
    answer = client.post(
        url,
        _form(
            site,
            grid_limit_amps="63",
            **{
                "limit_periods-TOTAL_FORMS": "1",
                "limit_periods-0-starts": "17:00",
                "limit_periods-0-ends": "20:00",
                "limit_periods-0-amps": "40",
            },
        ),
    )
    assert answer.status_code == 302, answer.context["errors"]
    site.refresh_from_db()
    assert site.grid_limit_amps == 63
    assert [(str(p.starts), p.amps) for p in site.limit_periods.all()] == [("17:00:00", 40)]

    ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="A",
        started_at=timezone.now(),
        meter_start_wh=0,
    )
    load_balancing.allocate_site(site)
    ConnectorAllocation.objects.filter(connector=connector).update(drawn_amps=Decimal("5.5"))
    page = client.get(url).content.decode()
    assert "the cars draw L1 5.5 A, L2 5.5 A, L3 5.5 A now" in page
    assert "ADM-SMART#1" in page
    # The profiles sent to the site's chargers, in the command log.
    sent = (
        reverse("admin:stations_chargercommand_changelist")
        + f"?source=smart+charging&amp;charge_point__site__id__exact={site.pk}"
    )
    assert sent in page
    assert client.get(sent.replace("&amp;", "&")).status_code == 200


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"grid_limit_amps": "-5"}, "grid_limit_amps"),
        ({"grid_limit_amps": "99999"}, "grid_limit_amps"),
        ({"min_amps": "100"}, "min_amps"),
    ],
)
def test_bad_limits_are_form_errors(client, changes, field):
    site = Site.objects.create(name=f"Admin bad {field}")
    answer = client.post(
        reverse("admin:stations_site_change", args=[site.pk]), _form(site, **changes)
    )
    assert answer.status_code == 200
    assert field in answer.context["adminform"].form.errors


def test_an_evening_limit_that_ends_before_it_starts_is_a_form_error(client):
    site = Site.objects.create(name="Admin bad period")
    answer = client.post(
        reverse("admin:stations_site_change", args=[site.pk]),
        _form(
            site,
            **{
                "limit_periods-TOTAL_FORMS": "1",
                "limit_periods-0-starts": "20:00",
                "limit_periods-0-ends": "17:00",
                "limit_periods-0-amps": "40",
            },
        ),
    )
    assert answer.status_code == 200
    assert "The end must be after the start" in answer.content.decode()
    assert Decimal(0) == site.limit_periods.count()


def _chart(page: str) -> dict:
    start = page.index('<script id="site-load-data" type="application/json">')
    body = page[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


def test_the_site_page_charts_the_measured_load_against_the_limit_of_the_last_day(client):
    site = Site.objects.create(name="Admin chart", grid_limit_amps=63, phases=3)
    charge_point = ChargePoint.objects.create(charge_point_id="ADM-CHART", site=site)
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="A",
        started_at=timezone.now(),
        meter_start_wh=0,
    )
    now = timezone.now()
    load_balancing.allocate_site(site, now - timedelta(hours=30))  # older than the chart
    ConnectorAllocation.objects.filter(connector=connector).update(drawn_amps=Decimal("12.5"))
    load_balancing.allocate_site(site, now - timedelta(hours=2))
    Site.objects.filter(pk=site.pk).update(
        dynamic_limit_amps=32, dynamic_limit_until=now + timedelta(hours=1)
    )
    ConnectorAllocation.objects.filter(connector=connector).update(drawn_amps=Decimal("20"))
    load_balancing.allocate_site(Site.objects.get(pk=site.pk), now)

    page = client.get(reverse("admin:stations_site_change", args=[site.pk])).content.decode()
    chart = _chart(page)
    assert chart["limit"] == [63.0, 32.0]
    assert chart["drawn"] == {"L1": [12.5, 20.0], "L2": [12.5, 20.0], "L3": [12.5, 20.0]}
    assert len(chart["times"]) == 2
    assert "chartjs/chart.bundle.min.js" in page
    assert "stations/site_load_chart.js" in page


def test_the_site_page_lists_the_last_profiles_sent_and_their_answers(client):
    site = Site.objects.create(name="Admin profiles", grid_limit_amps=40)
    charge_point = ChargePoint.objects.create(charge_point_id="ADM-PROF", site=site)
    other = ChargePoint.objects.create(charge_point_id="ADM-ELSEWHERE")
    profile = {
        "connectorId": 2,
        "csChargingProfiles": {
            "chargingProfilePurpose": "TxProfile",
            "chargingSchedule": {"chargingSchedulePeriod": [{"startPeriod": 0, "limit": 13.3}]},
        },
    }
    for cp in (charge_point, other):
        ChargerCommand.objects.create(
            charge_point=cp,
            action="SetChargingProfile",
            payload=profile,
            source=load_balancing.SOURCE,
            status=ChargerCommand.Status.ANSWERED,
            response={"status": "Rejected"},
        )
    page = client.get(reverse("admin:stations_site_change", args=[site.pk])).content.decode()
    assert "<td>ADM-PROF#2</td><td>TxProfile</td><td>13.3</td><td>Rejected</td>" in page
    assert "ADM-ELSEWHERE" not in page


def test_an_unmanaged_site_has_no_chart(client):
    site = Site.objects.create(name="Admin no chart")
    page = client.get(reverse("admin:stations_site_change", args=[site.pk])).content.decode()
    assert "site-load-data" not in page


def test_load_samples_older_than_a_week_are_pruned_when_a_run_stores_one():
    site = Site.objects.create(name="Prune managed", grid_limit_amps=63)
    gone = Site.objects.create(name="Prune once managed")
    now = timezone.now()
    old = now - load_balancing.LOAD_HISTORY - timedelta(minutes=1)
    kept = now - load_balancing.LOAD_HISTORY + timedelta(minutes=1)
    for at in (old, kept):
        SiteLoadSample.objects.create(site=gone, measured_at=at, limit_amps=10, drawn_l1=1)
    load_balancing.allocate_site(site, now)
    assert sorted(SiteLoadSample.objects.values_list("site__name", "measured_at")) == sorted(
        [("Prune once managed", kept), ("Prune managed", now)]
    )
