"""Smart charging in admin: a site's limits, its time-of-day limits, the allocation now."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from stations import load_balancing
from stations.models import ChargePoint, ChargingSession, Connector, ConnectorAllocation, Site
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
