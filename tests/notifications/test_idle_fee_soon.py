"""A driver whose car stopped drawing power (SuspendedEV from the charger) is warned
NOTIFICATIONS_IDLE_FEE_WARNING_MINUTES (5) before the tariff's idle fee starts, at once
when the grace period is shorter; once per session, never after the session ended
(notifications/events.py tell_idle_fee_soon, the beat task warn_idle_fees)."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import Tariff, TariffAssignment
from notifications import events
from notifications.models import OutboxMessage
from stations.models import ChargePoint
from tests.conftest import eventually
from tests.mail import mails_to, text_of
from tests.notifications.test_session_finished import (
    driver_with_tag,
    samples_show_the_car_stopped,
    status,
)
from tests.stations.ocpp_wire import ago, iso, send
from users.models import User


@pytest.fixture(scope="module")
def mail_server(start_mail_server) -> tuple[str, Path]:
    return start_mail_server()


def driver_at_idle_fee(uid: str, charge_point_id: str, grace: int, language: str) -> User:
    driver = driver_with_tag(uid, language, charge_point_id)
    site = ChargePoint.objects.get(charge_point_id=charge_point_id).site
    tariff = Tariff.objects.create(
        name=f"Idle {uid}",
        price_per_kwh=Decimal(2),
        idle_fee_per_minute=Decimal(2),
        idle_grace_minutes=grace,
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    return driver


def warnings(driver: User) -> list[tuple[str, str]]:
    rows = OutboxMessage.objects.filter(recipient=driver, kind="idle_fee_soon")
    return sorted(rows.values_list("channel", "state"))


async def start_and_stop_drawing(cp, uid: str) -> int:
    answer = await send(
        cp,
        "StartTransaction",
        {"connectorId": 1, "idTag": uid, "meterStart": 0, "timestamp": iso(ago(minutes=30))},
    )
    await send(cp, "StatusNotification", status("Charging", ago(minutes=29)))
    return answer["transactionId"]


async def test_a_grace_shorter_than_the_warning_warns_at_once_and_once(
    mail_server, charger, db_access
):
    server, mail = mail_server
    driver = await sync_to_async(driver_at_idle_fee)("SOON-EN", "CP-SOON-EN", 2, "en")
    suspended_at = ago(seconds=30)

    async with charger("CP-SOON-EN", server=server) as cp:
        transaction_id = await start_and_stop_drawing(cp, "SOON-EN")
        await send(cp, "StatusNotification", status("SuspendedEV", suspended_at))
        await send(cp, "StatusNotification", status("SuspendedEV", suspended_at))  # repeated
        await samples_show_the_car_stopped(cp, transaction_id, suspended_at)

        def warned() -> list:
            return [m for m in mails_to(mail, driver.email) if "Idle fee" in m["Subject"]]

        assert await eventually(warned)
        # The beat task, twice: nothing more.
        assert await sync_to_async(events.warn_idle_fees)() == 0
        assert await sync_to_async(events.warn_idle_fees)() == 0

    [message] = warned()
    assert message["Subject"] == "Idle fee soon at Skeppsbron CP-SOON-EN"
    body = text_of(message)
    assert "per minute applies until you unplug" in body and "2.50\xa0SEK" in body
    assert await sync_to_async(warnings)(driver) == [("email", "sent"), ("portal", "sent")]


async def test_a_longer_grace_is_warned_five_minutes_before_the_fee(
    mail_server, charger, db_access
):
    server, _mail = mail_server
    driver = await sync_to_async(driver_at_idle_fee)("SOON-SV", "CP-SOON-SV", 15, "sv")
    suspended_at = ago(minutes=1)

    async with charger("CP-SOON-SV", server=server) as cp:
        transaction_id = await start_and_stop_drawing(cp, "SOON-SV")
        # Answered: a warning, were there one now, is written.
        await send(cp, "StatusNotification", status("SuspendedEV", suspended_at))
        await samples_show_the_car_stopped(cp, transaction_id, suspended_at)
        assert await sync_to_async(warnings)(driver) == []

        warn = sync_to_async(events.warn_idle_fees)
        assert await warn(suspended_at + timedelta(minutes=9)) == 0  # 6 min before
        assert await warn(suspended_at + timedelta(minutes=10)) == 2  # 5 min before
        assert await warn(suspended_at + timedelta(minutes=11)) == 0  # the beat again

    assert await sync_to_async(warnings)(driver) == [("email", "sent"), ("portal", "sent")]
    email = await OutboxMessage.objects.aget(
        recipient=driver, kind="idle_fee_soon", channel="email"
    )
    assert email.payload["subject"] == "Snart parkeringsavgift vid Skeppsbron CP-SOON-SV"
    assert "tillkommer en parkeringsavgift på 2,50\xa0SEK per minut" in email.payload["text"]


async def test_no_warning_once_the_session_has_ended(mail_server, charger, db_access):
    server, _mail = mail_server
    driver = await sync_to_async(driver_at_idle_fee)("SOON-END", "CP-SOON-END", 15, "en")

    async with charger("CP-SOON-END", server=server) as cp:
        transaction_id = await start_and_stop_drawing(cp, "SOON-END")
        await send(cp, "StatusNotification", status("SuspendedEV", ago(minutes=1)))
        stop = {"transactionId": transaction_id, "meterStop": 10_000, "timestamp": iso(ago())}
        await send(cp, "StopTransaction", stop)

    later = timezone.now() + timedelta(minutes=20)
    assert await sync_to_async(events.warn_idle_fees)(later) == 0
    assert await sync_to_async(warnings)(driver) == []
