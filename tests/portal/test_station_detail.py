from decimal import Decimal

import pytest
from django.urls import reverse

from stations.models import Connector
from tests.portal.places import first_connector, pays_by_wallet, place

pytestmark = pytest.mark.django_db


def test_station_page_shows_connectors_status_type_power_and_price(client):
    site = place(
        "Priced",
        connectors=(("Type2", "22", "Available"), ("CCS2", "150", "Faulted")),
        price_per_kwh=Decimal("4"),
    )
    response = client.get(reverse("portal:station", args=[site.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert site.name in page
    assert "Type 2" in page and "CCS 2" in page and "150 kW" in page
    assert "Faulted" in page and "Available" in page
    # 4 SEK net + 25 % VAT (the tariff's default rate) = 5 SEK.
    assert "5.00\u00a0SEK/kWh" in page
    assert "Log in to start charging" in page


def test_station_page_without_a_tariff_says_so(client):
    site = place("Free")
    page = client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert "No price is set for this connector." in page


def test_unknown_station_is_404(client):
    assert client.get(reverse("portal:station", args=[999_999])).status_code == 404


def test_logged_in_driver_gets_a_start_button(driver_client):
    site = place("Start here")
    page = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert reverse("portal:start") in page
    assert f'value="{first_connector(site).pk}"' in page


def test_a_driver_who_may_not_charge_sees_why_before_trying(driver, driver_client):
    pays_by_wallet(driver)  # an empty wallet, under BILLING_WALLET_MINIMUM
    site = place("Refused")
    page = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert "at least 50 SEK is needed to start" in page
    assert "disabled" in page


def test_start_is_offered_only_where_a_start_can_work(driver_client):
    site = place(
        "Mixed",
        connectors=(
            ("Type2", "22", "Available"),
            ("Type2", "22", "Preparing"),
            ("Type2", "22", "Charging"),
            ("Type2", "22", "Faulted"),
        ),
    )
    response = driver_client.get(reverse("portal:station", args=[site.pk]))
    startable = [row["state"].startable for row in response.context["rows"]]
    assert startable == [True, True, False, False]
    assert response.content.decode().count("disabled") == 2


def test_nothing_can_be_started_at_an_offline_charger(driver_client):
    site = place("Asleep", online=False)
    response = driver_client.get(reverse("portal:station", args=[site.pk]))
    assert [row["state"].startable for row in response.context["rows"]] == [False]
    assert "Offline" in response.content.decode()


def test_several_connectors_share_one_start_form_with_a_connector_choice(driver_client):
    site = place(
        "Four",
        connectors=(
            ("Type2", "22", "Charging"),
            ("Type2", "22", "Available"),
            ("CCS2", "150", "Available"),
            ("CCS2", "150", "Faulted"),
        ),
    )
    page = driver_client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert page.count(f'action="{reverse("portal:start")}"') == 1
    # The first connector a start can work at is chosen; busy or broken ones cannot be.
    second = Connector.objects.get(charge_point__site=site, connector_id=2)
    assert f'name="connector" value="{second.pk}" checked' in page
    assert page.count('type="radio" name="connector"') == 4
    assert page.count(" disabled>") == 2
