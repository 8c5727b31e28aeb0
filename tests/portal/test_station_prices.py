"""Prices on every screen (#12): the station list, the station page and the API's station
list show the price in force now, the one a session started now is billed at
(billing/pricing.py, the receipt's rule), read for a whole page in a fixed number of
queries; a finished session links its receipt."""

from datetime import time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import settlement
from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
from billing.pricing import SessionUsage, price_session
from billing.wallet import credit_wallet_manually
from stations.models import Connector, Site
from stations.sessions import EnergyStep
from tests.portal.places import first_connector, pays_by_wallet, place, session_of, token_of

pytestmark = pytest.mark.django_db
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local_time(hours: float) -> time:
    """The site's clock `hours` from now (minutes only: periods are set to the minute)."""
    moment = timezone.now().astimezone(STOCKHOLM) + timedelta(hours=hours)
    return moment.time().replace(second=0, microsecond=0)


def time_of_use_tariff() -> Tariff:
    """2 SEK net at other times; "Midday" (3 SEK) runs now; "Evening" (6 SEK) does not."""
    tariff = Tariff.objects.create(name="Day and evening", price_per_kwh=Decimal(2))
    TimeOfUsePeriod.objects.create(
        tariff=tariff,
        position=0,
        name="Midday",
        weekdays="1234567",
        start_time=local_time(-1),
        end_time=local_time(1),
        price_per_kwh=Decimal(3),
    )
    TimeOfUsePeriod.objects.create(
        tariff=tariff,
        position=1,
        name="Evening",
        weekdays="12345",
        start_time=local_time(3),
        end_time=local_time(4),
        price_per_kwh=Decimal(6),
    )
    return tariff


def billed_per_kwh(connector: Connector) -> Decimal:
    """What one kWh delivered right now costs incl. VAT by the receipt's rule."""
    tariff = TariffAssignment.objects.get(site=connector.charge_point.site).tariff
    now = timezone.now()
    usage = SessionUsage(
        started_at=now,
        ended_at=now + timedelta(seconds=30),
        energy=[EnergyStep(now, now + timedelta(seconds=30), Decimal(1000))],
    )
    return price_session(usage, tariff.terms()).gross


def time_of_use_place(name: str = "Timed") -> Site:
    site = place(name, connectors=(("Type2", "22", "Available"), ("CCS2", "50", "Available")))
    TariffAssignment.objects.create(tariff=time_of_use_tariff(), site=site)
    return site


def test_list_page_and_api_show_the_price_a_session_started_now_is_billed_at(client):
    site = time_of_use_place()
    billed = billed_per_kwh(first_connector(site))
    assert billed == Decimal("3.75")  # 3 SEK + 25 % VAT: Midday, not the base price

    listed = client.get(reverse("portal:stations")).content.decode()
    assert "3.75\u00a0SEK/kWh" in listed
    assert "From" not in listed  # both connectors cost the same

    page = client.get(reverse("portal:station", args=[site.pk])).content.decode()
    assert "Now (Midday)" in page and "3.75\u00a0SEK/kWh" in page
    assert "Peak" in page and "7.50\u00a0SEK/kWh" in page  # Evening: 6 SEK + VAT
    assert "Evening" in page and "Mon\u2013Fri" in page and "Every day" in page

    [station] = client.get("/api/v1/stations/").json()["results"]
    assert station["price_from"]["lowest"]["per_kwh"] == {"net": "3.0000", "gross": "3.7500"}
    assert station["price_from"]["lowest"]["period"] == "Midday"
    assert station["price_from"]["varies"] is False
    connectors = station["charge_points"][0]["connectors"]
    assert [c["price_now"]["per_kwh"]["gross"] for c in connectors] == ["3.7500"] * 2


def test_a_station_whose_connectors_differ_shows_from_its_lowest_price(client):
    site = place(
        "Mixed",
        connectors=(("Type2", "22", "Available"), ("CCS2", "150", "Available")),
        price_per_kwh=Decimal(4),
    )
    fast = Connector.objects.get(charge_point__site=site, connector_type="CCS2")
    dearer = Tariff.objects.create(name="Fast", price_per_kwh=Decimal(6))
    TariffAssignment.objects.create(tariff=dearer, connector=fast)

    listed = client.get(reverse("portal:stations")).content.decode()
    assert "From 5.00\u00a0SEK/kWh" in listed  # 4 SEK + VAT; the fast one 7.50
    assert "7.50\u00a0SEK/kWh" in listed

    [station] = client.get("/api/v1/stations/").json()["results"]
    assert station["price_from"]["varies"] is True
    assert station["price_from"]["lowest"]["per_kwh"]["gross"] == "5.0000"


def test_swedish_prices_have_a_decimal_comma(client):
    time_of_use_place()
    listed = client.get(reverse("portal:stations"), HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "3,75\u00a0SEK/kWh" in listed


def test_a_page_of_stations_reads_its_prices_in_a_fixed_number_of_queries(
    client, django_assert_max_num_queries
):
    for number in range(12):
        site = time_of_use_place(f"Busy {number}")
        if number % 3 == 0:  # a connector-level price too: every level is read at once
            connector = first_connector(site)
            own = Tariff.objects.create(name=f"Own {number}", price_per_kwh=Decimal(1))
            TariffAssignment.objects.create(tariff=own, connector=connector)
    # The finder's queries (heartbeat intervals, count, site ids, connectors, opening
    # hours), maintenance windows, then the prices: assignments and their periods.
    with django_assert_max_num_queries(8):
        response = client.get(reverse("portal:stations"))
    assert response.content.decode().count("From 1.25\u00a0SEK/kWh") == 4
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/stations/")
    assert len(response.json()["results"]) == 12


def test_a_finished_session_links_its_receipt(driver, driver_client, make_user):
    pays_by_wallet(driver)
    credit_wallet_manually(driver, Decimal(100), staff=make_user(is_staff=True), reason="cash")
    site = place("Paid", price_per_kwh=Decimal(2))
    session = session_of(token_of(driver), first_connector(site), wh=4000)
    charge = settlement.settle_session(session.pk)
    assert charge is not None and charge.document is not None

    page = driver_client.get(reverse("portal:session", args=[session.pk])).content.decode()
    assert reverse("billing:invoice-pdf", args=[charge.document.pk]) in page
    assert f"Receipt {charge.document}" in page


def test_a_running_session_has_no_receipt_link(driver, driver_client):
    session = session_of(token_of(driver), first_connector(place("Running")), active=True)
    page = driver_client.get(reverse("portal:session", args=[session.pk])).content.decode()
    assert 'id="receipt"' not in page
