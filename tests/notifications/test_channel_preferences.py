"""Preferences beyond email (notifications/preferences.py): "charging finished" in the
portal, quiet hours for what can wait, one message per kind and charger per window."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from notifications import events, outbox, preferences
from notifications.models import OutboxMessage
from tests.notifications.choices import ticked

API = reverse("api:my-notifications")
STOCKHOLM = ZoneInfo(settings.TIME_ZONE)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 6, hour, minute, tzinfo=STOCKHOLM)


def test_quiet_hours_end_the_same_night_or_the_next_morning():
    night = (time(22), time(7))
    assert preferences.quiet_until(*night, at(23, 30)) == at(7).replace(day=7).astimezone(UTC)
    assert preferences.quiet_until(*night, at(6, 59)) == at(7).astimezone(UTC)
    assert preferences.quiet_until(*night, at(7)) is None
    assert preferences.quiet_until(*night, at(12)) is None
    assert preferences.quiet_until(time(13), time(14), at(13, 30)) == at(14).astimezone(UTC)
    assert preferences.quiet_until(time(9), time(9), at(9)) is None


def test_what_can_wait_leaves_after_the_quiet_hours_the_rest_at_once(driver, mailoutbox):
    now = timezone.now().astimezone(STOCKHOLM)
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time()
    preferences.save_choices(driver, {"quiet_start": start, "quiet_end": end})

    waits = events.email("support_answer", driver, "Answer", "…", key="answer:1")
    urgent = events.email("car_stopped", driver, "Your car stopped", "…", key="stopped:1")
    events.deliver_now([waits, urgent])

    assert [m.subject for m in mailoutbox] == ["Your car stopped"]
    waits.refresh_from_db()
    assert waits.next_attempt_at > timezone.now() + timedelta(minutes=55)
    assert outbox.deliver_pending() == 0
    assert outbox.deliver_pending(waits.next_attempt_at + timedelta(seconds=1)) == 1
    assert [m.subject for m in mailoutbox] == ["Your car stopped", "Answer"]


def test_one_message_per_kind_and_charger_per_window(driver, settings):
    settings.NOTIFICATIONS_RATE_WINDOW = 900
    first = events.email("car_stopped", driver, "s", "b", key="k:1", charger="CP-FLAP")
    again = events.email("car_stopped", driver, "s", "b", key="k:2", charger="CP-FLAP")
    other_charger = events.email("car_stopped", driver, "s", "b", key="k:3", charger="CP-CALM")
    other_kind = events.email("charging_finished", driver, "s", "b", key="k:4", charger="CP-FLAP")
    assert first is not None and again is None
    assert other_charger is not None and other_kind is not None
    # After the window, the charger may be talked about again.
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(seconds=901))
    assert events.email("car_stopped", driver, "s", "b", key="k:5", charger="CP-FLAP")


def test_the_api_reads_and_saves_the_portal_choice_and_quiet_hours(driver):
    api = APIClient()
    api.force_authenticate(driver)
    assert {
        "charging_finished": True,
        "receipts_by_email": True,
        "payment_problems": True,
        "charging_finished_in_portal": True,
        "quiet_start": None,
        "quiet_end": None,
    }.items() <= api.get(API).json().items()
    saved = api.put(
        API,
        {
            "charging_finished": True,
            "receipts_by_email": True,
            "charging_finished_in_portal": False,
            "quiet_start": "22:00",
            "quiet_end": "07:00",
        },
        format="json",
    )
    assert saved.status_code == 200
    assert saved.json()["charging_finished_in_portal"] is False
    assert saved.json()["quiet_start"] == "22:00"
    assert not preferences.wants(driver, preferences.CHARGING_FINISHED, "portal")
    assert preferences.wants(driver, preferences.CHARGING_FINISHED, "email")

    garbled = api.put(
        API,
        {
            "charging_finished": True,
            "receipts_by_email": True,
            "quiet_start": "25:00",
            "quiet_end": "07:00",
        },
        format="json",
    )
    assert garbled.status_code == 400
    half = api.put(
        API,
        {"charging_finished": True, "receipts_by_email": True, "quiet_start": "22:00"},
        format="json",
    )
    assert half.status_code == 400


def test_the_portal_page_saves_them_too_and_refuses_half_quiet_hours(driver, driver_client):
    url = reverse("portal:notifications")
    response = driver_client.post(
        url,
        {
            **ticked(charging_finished=["email"]),
            "quiet_start": "22:00",
            "quiet_end": "07:00",
        },
    )
    assert response.status_code == 302
    saved = preferences.preferences_of(driver)
    assert (saved.quiet_start, saved.quiet_end) == (time(22), time(7))
    assert not preferences.wants(driver, preferences.CHARGING_FINISHED, "portal")

    half = driver_client.post(url, {**ticked(), "quiet_start": "22:00"})
    assert half.status_code == 400
    assert "Give both times" in half.content.decode()
