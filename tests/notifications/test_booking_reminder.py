"""A driver is reminded of a booking NOTIFICATIONS_BOOKING_REMINDER_MINUTES before it
starts (notifications/events.py remind_bookings, a beat task), once, through the outbox;
never for a cancelled booking."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from charging import bookings
from notifications import tasks
from notifications.events import remind_bookings
from notifications.models import Notification, OutboxMessage
from stations.models import Booking, Connector
from tests.billing.sessions import charging_site
from tests.portal.places import token_of
from tests.portal.test_bookings import book_form, tomorrow_at


@pytest.fixture
def connector(db: None) -> Connector:
    return charging_site("Påminnelsen", price_per_kwh=Decimal(2))


def booked_in_the_portal(driver, driver_client, connector, capture, starts_at):
    token_of(driver)
    with capture(execute=True):
        answer = driver_client.post("/bookings/book/", book_form(connector, starts_at))
    assert answer.status_code == 302
    return driver.bookings.get()


def reminders(driver) -> list[tuple[str, str]]:
    rows = OutboxMessage.objects.filter(recipient=driver, kind="booking_reminder")
    return sorted(rows.values_list("channel", "state"))


def test_the_driver_is_reminded_once_half_an_hour_before_the_slot(
    driver, driver_client, connector, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.NOTIFICATIONS_BOOKING_REMINDER_MINUTES = 30
    booking = booked_in_the_portal(
        driver, driver_client, connector, django_capture_on_commit_callbacks, tomorrow_at(8)
    )
    mailoutbox.clear()  # the confirmation

    assert remind_bookings(booking.starts_at - timedelta(minutes=31)) == 0  # too early
    assert remind_bookings(booking.starts_at - timedelta(minutes=29)) == 2  # email, portal
    # The beat again, and late: nothing more.
    assert remind_bookings(booking.starts_at - timedelta(minutes=28)) == 0
    assert remind_bookings(booking.starts_at - timedelta(minutes=1)) == 0

    assert reminders(driver) == [("email", "sent"), ("portal", "sent")]
    [mail] = mailoutbox
    site = connector.charge_point.site.name
    assert mail.subject == f"Your booking at {site} starts soon"
    assert "Your booking starts at 08:00." in mail.body
    assert "/reservations/" in mail.body
    assert mail.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = mail.alternatives[0][0]
    assert "Your booking starts at 08:00." in html
    [notice] = Notification.objects.filter(user=driver, title__endswith="starts soon")
    assert notice.url == "/reservations/"


def test_the_reminder_is_in_the_drivers_language(
    driver, driver_client, connector, mailoutbox, django_capture_on_commit_callbacks
):
    driver.language = "sv"
    driver.save()
    booking = booked_in_the_portal(
        driver, driver_client, connector, django_capture_on_commit_callbacks, tomorrow_at(9)
    )
    mailoutbox.clear()

    remind_bookings(booking.starts_at - timedelta(minutes=10))

    [mail] = mailoutbox
    assert mail.subject == f"Din bokning vid {connector.charge_point.site.name} börjar snart"
    assert "Din bokning börjar 09:00." in mail.body


def test_a_cancelled_booking_is_not_reminded(
    driver, driver_client, connector, mailoutbox, django_capture_on_commit_callbacks
):
    booking = booked_in_the_portal(
        driver, driver_client, connector, django_capture_on_commit_callbacks, tomorrow_at(10)
    )
    bookings.cancel(driver, booking)
    mailoutbox.clear()

    assert remind_bookings(booking.starts_at - timedelta(minutes=5)) == 0
    assert reminders(driver) == []
    assert mailoutbox == []


def test_the_beat_task_reminds_of_a_booking_made_long_before(
    driver, connector, mailoutbox, settings
):
    settings.NOTIFICATIONS_BOOKING_REMINDER_MINUTES = 30
    booking = bookings.book(driver, connector, tomorrow_at(7), 60, token_of(driver))
    mailoutbox.clear()
    now = timezone.now()
    slot = Booking.objects.filter(pk=booking.pk)

    slot.update(created_at=now - timedelta(days=1), starts_at=now + timedelta(minutes=50))
    assert tasks.remind_bookings.delay().get() == 0  # 50 minutes away
    slot.update(starts_at=now + timedelta(minutes=20), ends_at=now + timedelta(minutes=80))
    assert tasks.remind_bookings.delay().get() == 2
    assert tasks.remind_bookings.delay().get() == 0  # the beat twice: once

    assert reminders(driver) == [("email", "sent"), ("portal", "sent")]
    assert len(mailoutbox) == 1


def test_a_booking_made_inside_the_reminder_time_gets_only_its_confirmation(
    driver, connector, mailoutbox, settings
):
    settings.NOTIFICATIONS_BOOKING_REMINDER_MINUTES = 30
    booking = bookings.book(driver, connector, tomorrow_at(7), 60, token_of(driver))
    now = timezone.now()
    Booking.objects.filter(pk=booking.pk).update(
        created_at=now - timedelta(minutes=5), starts_at=now + timedelta(minutes=20)
    )

    assert remind_bookings(now) == 0
