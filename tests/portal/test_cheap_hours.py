"""Cheap hours in the portal: the station page says when charging is cheaper
(billing.tariffs.cheaper_later) and the start form takes a departure and the energy."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import tariffs
from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
from stations.models import ChargerCommand, Site
from tests.portal.places import first_connector, place

pytestmark = pytest.mark.django_db


def with_cheap_period(site: Site, starts: time, ends: time) -> None:
    """3 SEK/kWh, 1.20 in the period (25 % VAT: 3.75 and 1.50)."""
    tariff = Tariff.objects.create(name="Cheap nights", price_per_kwh=Decimal(3))
    TimeOfUsePeriod.objects.create(
        tariff=tariff, name="Night", start_time=starts, end_time=ends, price_per_kwh=Decimal("1.2")
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)


def utc_site() -> Site:
    site = place()
    site.time_zone = "UTC"
    site.save()
    return site


def test_cheaper_later_names_the_first_moment_of_the_lowest_price():
    site = utc_site()
    with_cheap_period(site, time(22), time(6))
    connector = first_connector(site)

    evening = tariffs.cheaper_later(connector, None, datetime(2026, 12, 7, 17, 5, tzinfo=UTC))
    night = tariffs.cheaper_later(connector, None, datetime(2026, 12, 7, 23, 5, tzinfo=UTC))

    assert evening is not None
    assert evening.at == datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
    assert (evening.per_kwh.gross, evening.period) == (Decimal("1.50"), "Night")
    assert night is None  # already the cheapest


def test_the_station_page_says_from_when_it_is_cheaper(client):
    site = utc_site()
    hour = (timezone.now() + timedelta(hours=2)).astimezone(UTC).hour
    with_cheap_period(site, time(hour), time((hour + 2) % 24))

    page = client.get(f"/stations/{site.pk}/").content.decode()

    assert f"Cheaper from {hour:02d}:00" in page
    assert "1.50" in page


# Commands do their ORM work on other threads: the data must be committed.
@pytest.mark.django_db(transaction=True)
def test_a_start_with_a_departure_sends_the_cheapest_schedule(driver, driver_client):
    site = place("Offline", online=False)
    site.time_zone = "UTC"
    site.save()
    with_cheap_period(site, time(22), time(6))
    ready_by = (timezone.now() + timedelta(hours=20)).astimezone(UTC).strftime("%H:%M")

    response = driver_client.post(
        reverse("portal:start"),
        {"connector": first_connector(site).pk, "ready_by": ready_by, "energy_kwh": "11"},
    )

    # Offline here: the command is recorded with the schedule it would have carried.
    assert response.status_code == 502
    profile = ChargerCommand.objects.get().payload["chargingProfile"]
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"]["chargingRateUnit"] == "W"


def test_half_a_wish_is_refused_on_the_page(driver, driver_client):
    site = place()

    response = driver_client.post(
        reverse("portal:start"), {"connector": first_connector(site).pk, "energy_kwh": "11"}
    )

    assert response.status_code == 400
    assert "both the departure time and the energy" in response.content.decode()
    assert not ChargerCommand.objects.exists()
