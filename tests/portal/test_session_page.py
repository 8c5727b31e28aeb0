from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from stations.models import MeterSample
from tests.portal.places import first_connector, place, session_of, token_of

pytestmark = pytest.mark.django_db


def test_session_page_shows_energy_duration_and_cost_so_far(driver, driver_client):
    site = place("Live", price_per_kwh=Decimal("2"))
    connector = first_connector(site)
    session = session_of(token_of(driver), connector, active=True, minutes=90)
    MeterSample.objects.create(
        charge_point=connector.charge_point,
        connector_id=1,
        session=session,
        timestamp=session.started_at + timedelta(minutes=60),
        value="11000",
        value_decimal=Decimal(11000),
    )
    response = driver_client.get(reverse("portal:session", args=[session.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    # 10 kWh so far; 2 SEK net + 25 % VAT = 2.50 SEK per kWh: 25.00 SEK.
    assert "10.00" in page
    assert "1:30" in page
    assert "25.00\u00a0SEK" in page
    assert "Stop charging" in page and reverse("portal:stop", args=[session.pk]) in page

    figures = driver_client.get(reverse("portal:session-figures", args=[session.pk])).json()
    assert figures == {
        "status": "active",
        "energy_kwh": "10.00",
        "duration": "1:30",
        "cost": "25.00\u00a0SEK",
        "power_kw": "",
        "soc_percent": "",
    }


def test_an_ended_session_shows_its_cost_and_no_stop_button(driver, driver_client):
    session = session_of(token_of(driver), first_connector(place("Ended")), wh=5000)
    page = driver_client.get(reverse("portal:session", args=[session.pk])).content.decode()
    assert "5.00" in page and "No price set" in page
    assert "Stop charging" not in page


def test_another_drivers_session_is_404(driver_client, make_user):
    theirs = session_of(token_of(make_user()), first_connector(place("Theirs")), active=True)
    assert driver_client.get(reverse("portal:session", args=[theirs.pk])).status_code == 404
    figures = driver_client.get(reverse("portal:session-figures", args=[theirs.pk]))
    assert figures.status_code == 404


def test_my_charging_lists_only_my_active_sessions(driver, driver_client, make_user):
    site = place("Two connectors", connectors=(("Type2", "22", "Charging"),) * 3)
    connectors = list(site.charge_points.get().connectors.order_by("connector_id"))
    mine = session_of(token_of(driver), connectors[0], active=True)
    finished = session_of(token_of(driver), connectors[1])
    theirs = session_of(token_of(make_user()), connectors[2], active=True)
    page = driver_client.get(reverse("portal:charging")).content.decode()
    assert reverse("portal:session", args=[mine.pk]) in page
    assert reverse("portal:session", args=[finished.pk]) not in page
    assert reverse("portal:session", args=[theirs.pk]) not in page


def test_my_charging_without_sessions_points_to_the_finder(driver_client):
    page = driver_client.get(reverse("portal:charging")).content.decode()
    assert "You are not charging right now." in page
