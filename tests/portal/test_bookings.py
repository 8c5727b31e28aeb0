"""Booking a connector ahead from the portal: the station page's form and booked slots,
the list and cancelling (rules: charging/bookings.py, tested in tests/api/)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from stations.models import Booking
from tests.portal.places import first_connector, place, token_of

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def tomorrow_at(hour: int) -> datetime:
    day = timezone.now().astimezone(STOCKHOLM).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=STOCKHOLM)


def book_form(connector, starts_at: datetime, minutes: int = 60) -> dict[str, object]:
    return {
        "connector": connector.pk,
        "day": starts_at.date().isoformat(),
        "start": starts_at.strftime("%H:%M"),
        "minutes": minutes,
    }


def test_a_driver_books_from_the_station_page_in_the_chargers_time(driver, driver_client):
    site = place()
    site.time_zone = "Europe/Stockholm"
    site.save()
    connector = first_connector(site)
    token_of(driver, "PORTAL-BOOK")
    starts_at = tomorrow_at(8)

    page = driver_client.get(f"/stations/{site.pk}/")
    assert 'action="/bookings/book/"' in page.content.decode()

    response = driver_client.post("/bookings/book/", book_form(connector, starts_at))

    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.starts_at, booking.ends_at) == (starts_at, starts_at + timedelta(hours=1))
    listed = driver_client.get("/reservations/").content.decode()
    assert "08:00\N{EN DASH}09:00" in listed


def test_booked_slots_show_on_the_station_page_to_everyone(client, driver, driver_client):
    site = place()
    site.time_zone = "Europe/Stockholm"
    site.save()
    connector = first_connector(site)
    token_of(driver)
    driver_client.post("/bookings/book/", book_form(connector, tomorrow_at(8)))

    page = client.get(f"/stations/{site.pk}/").content.decode()

    assert "Booked:" in page
    assert "08:00\N{EN DASH}09:00" in page


def test_a_taken_slot_is_refused_on_the_station_page(driver, driver_client, make_user, client):
    site = place()
    site.time_zone = "Europe/Stockholm"
    site.save()
    connector = first_connector(site)
    other = make_user()
    token_of(other)
    client.force_login(other)
    assert client.post("/bookings/book/", book_form(connector, tomorrow_at(8))).status_code == 302

    response = driver_client.post(
        "/bookings/book/", book_form(connector, tomorrow_at(8) + timedelta(minutes=30))
    )

    assert response.status_code == 409
    assert "already booked" in response.content.decode()
    assert Booking.objects.count() == 1


def test_an_unknown_connector_is_a_bad_request(driver_client):
    response = driver_client.post(
        "/bookings/book/",
        {"connector": 999999, "day": "2030-01-01", "start": "08:00", "minutes": 60},
    )

    assert response.status_code == 400


def test_cancelling_early_is_free_and_another_drivers_booking_is_not_found(
    driver, driver_client, make_user, client
):
    site = place()
    connector = first_connector(site)
    token_of(driver)
    driver_client.post("/bookings/book/", book_form(connector, tomorrow_at(10)))
    booking = Booking.objects.get()
    client.force_login(make_user())

    assert client.post(f"/bookings/{booking.pk}/cancel/").status_code == 404
    response = driver_client.post(f"/bookings/{booking.pk}/cancel/", follow=True)

    assert "free of charge" in response.content.decode()
    booking.refresh_from_db()
    assert (booking.status, booking.fee_charged) == (Booking.Status.CANCELLED, None)
