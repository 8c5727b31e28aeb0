"""The station list's price filter (billing/price_filter.py through stations.finder) and
the opening hours on the station pages."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import CustomerGroup, Tariff, TariffAssignment, TimeOfUsePeriod
from billing.price_filter import connectors_priced_at_most
from stations.finder import StationFilter, find_sites
from stations.models import ChargePoint, OpeningHours, Site
from tests.portal.places import first_connector, place

pytestmark = pytest.mark.django_db


def listed(client, **params: str) -> list[Site]:
    response = client.get(reverse("portal:stations"), params)
    assert response.status_code == 200
    return [result.site for result in response.context["results"]]


def tariff(net_per_kwh: str, **fields: object) -> Tariff:
    return Tariff.objects.create(
        name=f"Tariff {net_per_kwh}", price_per_kwh=Decimal(net_per_kwh), **fields
    )


def test_a_max_price_leaves_out_dearer_and_unpriced_places(client):
    cheap = place("Cheap", price_per_kwh=Decimal("2.00"))  # 2.50 incl. 25 % VAT
    dear = place("Dear", price_per_kwh=Decimal("4.00"))  # 5.00 incl. VAT
    unpriced = place("Unpriced")
    assert set(listed(client)) == {cheap, dear, unpriced}
    assert listed(client, max_price="3") == [cheap]
    assert listed(client, max_price="2.50") == [cheap]  # the price incl. VAT, at most
    assert listed(client, max_price="2.49") == []
    assert listed(client, max_price="5.00") == [cheap, dear]


def test_the_max_price_goes_with_the_other_filters(client):
    fast = place("Fast", connectors=(("CCS2", "150", "Available"),), price_per_kwh=Decimal(2))
    place("Slow", connectors=(("Type2", "22", "Available"),), price_per_kwh=Decimal(2))
    place("Fast dear", connectors=(("CCS2", "150", "Available"),), price_per_kwh=Decimal(5))
    assert listed(client, max_price="3", connector_type="CCS2") == [fast]


def test_the_most_specific_assignment_decides_the_price_as_billing_does(client):
    # A cheap site tariff, but the charger has its own dear one: connector beats site.
    site = place("Charger tariff", price_per_kwh=Decimal("1.00"))
    TariffAssignment.objects.create(
        tariff=tariff("6.00"), charge_point=ChargePoint.objects.get(site=site)
    )
    # A dear site tariff, but the connector has its own cheap one.
    other = place("Connector tariff", price_per_kwh=Decimal("6.00"))
    TariffAssignment.objects.create(tariff=tariff("1.00"), connector=first_connector(other))
    assert listed(client, max_price="3") == [other]


def test_the_assignment_that_became_valid_last_decides_and_expired_ones_do_not_count(client):
    now = timezone.now()
    # Created in the other order, so that "the newest" alone would pick the other one.
    raised = place("Raised")
    TariffAssignment.objects.create(
        tariff=tariff("6.00"), site=raised, valid_from=now - timedelta(days=1)
    )
    TariffAssignment.objects.create(
        tariff=tariff("1.00"), site=raised, valid_from=now - timedelta(days=30)
    )
    lowered = place("Lowered")  # the tariff's own validity counts too
    TariffAssignment.objects.create(
        tariff=tariff("1.00", valid_from=now - timedelta(hours=1)), site=lowered
    )
    TariffAssignment.objects.create(tariff=tariff("6.00"), site=lowered)
    ended = place("Ended")
    TariffAssignment.objects.create(
        tariff=tariff("1.00"), site=ended, valid_until=now - timedelta(hours=1)
    )
    future = place("Future")
    TariffAssignment.objects.create(
        tariff=tariff("1.00", valid_from=now + timedelta(days=1)), site=future
    )
    assert listed(client, max_price="3") == [lowered]


def test_a_driver_sees_the_price_of_their_customer_group(client, driver_client, driver):
    fleet = CustomerGroup.objects.create(name="Taxi", kind=CustomerGroup.Kind.FLEET)
    fleet.members.add(driver)
    site = place("Fleet price", price_per_kwh=Decimal("4.00"))  # everyone: 5.00 incl. VAT
    # The group's price, set for the site, beats even a connector's price for everyone.
    TariffAssignment.objects.create(tariff=tariff("1.60"), site=site, customer_group=fleet)
    TariffAssignment.objects.create(tariff=tariff("4.00"), connector=first_connector(site))
    assert listed(client, max_price="3") == []
    assert listed(driver_client, max_price="3") == [site]


def test_a_price_that_is_not_one_is_shown_as_an_error_and_not_applied(client):
    cheap = place("Cheap", price_per_kwh=Decimal("2.00"))
    dear = place("Dear", price_per_kwh=Decimal("4.00"))
    for bad in ("abc", "-1", "NaN"):
        response = client.get(reverse("portal:stations"), {"max_price": bad})
        assert response.status_code == 200
        assert response.context["form"].errors["max_price"]
        assert {result.site for result in response.context["results"]} == {cheap, dear}
        assert 'class="errorlist' in response.content.decode()


def test_the_price_of_the_time_of_use_period_in_force_counts():
    # Base price 4.00 net; nights (22-06, every day) 1.00 net: by the site's clock.
    night = tariff("4.00")
    TimeOfUsePeriod.objects.create(
        tariff=night,
        name="Night",
        weekdays="1234567",
        start_time=time(22),
        end_time=time(6),
        price_per_kwh=Decimal("1.00"),
    )
    stockholm = place("Stockholm nights")
    TariffAssignment.objects.create(tariff=night, site=stockholm)
    tokyo = place("Tokyo nights")
    Site.objects.filter(pk=tokyo.pk).update(time_zone="Asia/Tokyo")
    TariffAssignment.objects.create(tariff=night, site=tokyo)

    def cheap_at(moment: datetime) -> list[Site]:
        wanted = StationFilter(connector_q=connectors_priced_at_most(Decimal(3), None, moment))
        return [result.site for result in find_sites(wanted, moment)]

    stockholm_time = ZoneInfo("Europe/Stockholm")
    # 23:00 in Stockholm is 07:00 the next morning in Tokyo.
    assert cheap_at(datetime(2026, 11, 23, 23, tzinfo=stockholm_time)) == [stockholm]
    # 12:00 in Stockholm is 20:00 in Tokyo: day prices at both.
    assert cheap_at(datetime(2026, 11, 23, 12, tzinfo=stockholm_time)) == []
    # 16:00 in Stockholm is midnight in Tokyo.
    assert cheap_at(datetime(2026, 11, 23, 15, tzinfo=UTC)) == [tokyo]


def test_the_station_list_stays_a_few_queries_with_a_price_filter(
    client, django_assert_max_num_queries
):
    for n in range(12):
        place(f"Many {n:02d}", price_per_kwh=Decimal("2.00"))
    with django_assert_max_num_queries(12):
        assert len(listed(client, max_price="3")) == 12


# --- Opening hours on the pages ---------------------------------------------------------------


def today_in_stockholm() -> int:
    return timezone.now().astimezone(ZoneInfo("Europe/Stockholm")).isoweekday()


def limited(site: Site, *weekdays: int) -> Site:
    """The site open all day on `weekdays`, closed on the others."""
    Site.objects.filter(pk=site.pk).update(open_24_7=False)
    for weekday in weekdays:
        OpeningHours.objects.create(site=site, weekday=weekday, opens=time(0), closes=time(0))
    site.refresh_from_db()
    return site


def test_station_page_shows_the_week_and_whether_it_is_open_now(client):
    today = today_in_stockholm()
    other_day = today % 7 + 1  # tomorrow
    open_site = limited(place("Open today"), today)
    closed_site = limited(place("Closed today"), other_day)
    OpeningHours.objects.create(site=open_site, weekday=other_day, opens=time(7), closes=time(19))

    page = client.get(reverse("portal:station", args=[open_site.pk])).content.decode()
    assert "Open now" in page and "Closed now" not in page
    assert "00:00\u201324:00" in page and "07:00\u201319:00" in page
    assert "Monday" in page and "Sunday" in page and ">Closed<" in page

    page = client.get(reverse("portal:station", args=[closed_site.pk])).content.decode()
    assert "Closed now" in page and "Open now" not in page


def test_station_page_of_a_site_open_around_the_clock_says_so(client):
    page = client.get(reverse("portal:station", args=[place("Always").pk])).content.decode()
    assert "Open 24/7" in page and "Closed now" not in page


def test_station_list_marks_the_places_closed_now(client):
    today = today_in_stockholm()
    open_site = limited(place("A open"), today)
    closed_site = limited(place("B closed"), today % 7 + 1)
    always = place("C always")
    response = client.get(reverse("portal:stations"))
    by_site = {result.site: result for result in response.context["results"]}
    assert by_site[open_site].open_now and by_site[always].open_now
    assert not by_site[closed_site].open_now
    assert response.content.decode().count("Closed now") == 1
    # Starting is not refused outside the hours (the charger decides), so closed places
    # stay in the list and their connectors keep their live-status badges.
    assert f'data-connector="{first_connector(closed_site).pk}"' in response.content.decode()
