"""A driver hears their booking confirmed, and a booking that ended unused with the
no-show fee it cost (charging/bookings.py signals, notifications/events.py), by email
and in the portal."""

from datetime import timedelta
from decimal import Decimal

import pytest

from charging import bookings
from notifications.models import Notification
from stations.models import Connector
from tests.api.test_me_bookings import with_no_show_fee
from tests.billing.sessions import charging_site, missed_booking
from tests.portal.places import token_of
from tests.portal.test_bookings import book_form, tomorrow_at


@pytest.fixture
def connector(db: None) -> Connector:
    return charging_site("Bokningen", price_per_kwh=Decimal(2))


def test_a_booking_made_in_the_portal_is_confirmed_once(
    driver, driver_client, connector, mailoutbox, django_capture_on_commit_callbacks
):
    token_of(driver, "BOOK-TOLD")
    starts_at = tomorrow_at(8)

    with django_capture_on_commit_callbacks(execute=True):
        answer = driver_client.post("/bookings/book/", book_form(connector, starts_at))
    assert answer.status_code == 302

    [mail] = mailoutbox
    assert mail.to == [driver.email]
    site = connector.charge_point.site.name  # "Bokningen <n>"
    assert mail.subject == f"Booked: {site}"
    charger = connector.charge_point.charge_point_id
    assert f"Charger {charger}, connector 1" in mail.body and "/reservations/" in mail.body
    [notice] = Notification.objects.filter(user=driver)
    assert notice.title == f"Booked: {site}"


@pytest.mark.django_db(transaction=True)
def test_a_held_booking_not_used_tells_the_driver_the_fee_once(driver, connector, mailoutbox):
    with_no_show_fee(connector, "20")
    missed_booking(driver, connector, uid="MISSED-1")

    assert bookings.end_due() == 1
    assert bookings.end_due() == 0

    [mail] = mailoutbox
    assert mail.subject == f"Your booking at {connector.charge_point.site.name} ended unused"
    assert "A no-show fee of 25.00\xa0SEK applies, paid the way you pay for charging." in mail.body
    assert Notification.objects.filter(user=driver).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_booking_never_held_ended_unused_says_no_fee(driver, connector, mailoutbox):
    booking = missed_booking(driver, connector, uid="MISSED-2")
    booking.reservation.status = "Rejected"
    booking.reservation.save()

    bookings.end_due(booking.ends_at + timedelta(seconds=1))

    [mail] = mailoutbox
    assert "No fee was charged." in mail.body
