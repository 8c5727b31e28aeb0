""" "Charging finished": one email to the token's owner when the charger stops the session.

A simulated OCPP 1.6 charger charges over a real WebSocket against a real server process
(`manage.py serve`, Celery tasks run in it as a worker would, email written to files).

The server runs a message's tasks before it answers (eager, after the handler's commit:
tests/conftest.py server_env), so once the charger has its answer, every email that
message causes is in the folder: nothing needs waiting for after that.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import Tariff, TariffAssignment
from billing.tariffs import idle_fee_starts
from notifications import events
from notifications.models import Notification, OutboxMessage, Preferences, SessionNotice
from stations.models import ChargePoint, ChargingSession, Connector, Site
from stations.signals import session_ended
from tests.conftest import PASSWORD, eventually, register
from tests.mail import mails_to, text_of
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken, User


@pytest.fixture(scope="module")
def mail_server(start_mail_server) -> tuple[str, Path]:
    """A server that writes its email to files; returns its URL and mail folder."""
    return start_mail_server()


def driver_with_tag(uid: str, language: str, charge_point_id: str) -> User:
    site = Site.objects.create(name=f"Skeppsbron {charge_point_id}", city="Göteborg")
    register(charge_point_id, PASSWORD, site=site)
    driver = User.objects.create_user(f"{uid.lower()}@example.com", language=language)
    IdToken.objects.create(uid=uid, owner=driver)
    return driver


async def charge_12_kwh_for_an_hour(charger, server: str, charge_point_id: str, uid: str) -> int:
    """Start, stop, and the stop once more, as a charger retransmits after a reconnect.

    Returns once both stops are answered, i.e. their emails are written.
    """
    async with charger(charge_point_id, server=server) as cp:
        answer = await send(
            cp,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": uid,
                "meterStart": 100_000,
                "timestamp": iso(ago(minutes=65)),
            },
        )
        assert answer["idTagInfo"]["status"] == "Accepted"
        transaction_id = answer["transactionId"]
        stop = {
            "transactionId": transaction_id,
            "meterStop": 112_000,
            "timestamp": iso(ago(minutes=5)),
            "idTag": uid,
        }
        await send(cp, "StopTransaction", stop)
        await send(cp, "StopTransaction", stop)
    return transaction_id


async def test_the_driver_is_emailed_once_in_swedish_even_when_the_stop_is_retransmitted(
    mail_server, charger, db_access, mailoutbox
):
    server, mail = mail_server
    driver = await sync_to_async(driver_with_tag)("DONE-SV", "sv", "CP-DONE-SV")

    transaction_id = await charge_12_kwh_for_an_hour(charger, server, "CP-DONE-SV", "DONE-SV")

    assert await eventually(lambda: mails_to(mail, driver.email))
    (message,) = mails_to(mail, driver.email)  # the answered retransmission sent none
    assert "Skeppsbron CP-DONE-SV" in message["Subject"]
    body = text_of(message)
    assert f"Laddsession {transaction_id}, Skeppsbron CP-DONE-SV" in body
    assert "Laddare CP-DONE-SV, uttag 1" in body
    assert "Energi: 12,00 kWh" in body
    assert "1 h 0 min" in body
    assert f"/charging/{transaction_id}/" in body
    assert await sync_to_async(SessionNotice.objects.filter(session_id=transaction_id).count)() == 1

    # The task run again (a retried task, a second worker): nothing more is sent.
    assert await sync_to_async(events.tell_session_finished)(transaction_id) is False
    assert mailoutbox == []


async def test_an_english_driver_is_emailed_in_english(mail_server, charger, db_access):
    server, mail = mail_server
    driver = await sync_to_async(driver_with_tag)("DONE-EN", "en", "CP-DONE-EN")

    transaction_id = await charge_12_kwh_for_an_hour(charger, server, "CP-DONE-EN", "DONE-EN")

    assert await eventually(lambda: mails_to(mail, driver.email))
    body = text_of(mails_to(mail, driver.email)[0])
    assert f"Charging session {transaction_id}, Skeppsbron CP-DONE-EN" in body
    assert "Charger CP-DONE-EN, connector 1" in body
    assert "Energy: 12.00 kWh" in body


async def test_a_driver_who_turned_it_off_is_not_emailed(mail_server, charger, db_access):
    server, mail = mail_server
    driver = await sync_to_async(driver_with_tag)("DONE-OFF", "en", "CP-DONE-OFF")
    await sync_to_async(Preferences.objects.create)(user=driver, channels={"charging_finished": []})

    transaction_id = await charge_12_kwh_for_an_hour(charger, server, "CP-DONE-OFF", "DONE-OFF")

    assert mails_to(mail, driver.email) == []
    assert not await sync_to_async(SessionNotice.objects.filter(session_id=transaction_id).exists)()
    assert await sync_to_async(
        ChargingSession.objects.filter(pk=transaction_id, closed_by="charger").exists
    )()


async def test_a_driver_who_chose_the_portal_only_is_told_there_and_not_emailed(
    mail_server, charger, db_access
):
    server, mail = mail_server
    driver = await sync_to_async(driver_with_tag)("DONE-LIST", "en", "CP-DONE-LIST")
    await sync_to_async(Preferences.objects.create)(
        user=driver, channels={"charging_finished": ["portal"]}
    )

    transaction_id = await charge_12_kwh_for_an_hour(charger, server, "CP-DONE-LIST", "DONE-LIST")

    def told() -> list[tuple[str, str]]:
        rows = OutboxMessage.objects.filter(recipient=driver, kind="charging_finished")
        return [(row.channel, row.state) for row in rows]

    assert await eventually(lambda: told() == [("portal", "sent")], timeout=30)
    assert mails_to(mail, driver.email) == []
    listed = Notification.objects.filter(user=driver, url=f"/charging/{transaction_id}/")
    assert await sync_to_async(listed.exists)()


async def test_a_tag_without_an_owner_tells_nobody(mail_server, charger, db_access):
    server, mail = mail_server

    def ownerless_tag() -> None:
        register("CP-DONE-GUEST", PASSWORD)
        IdToken.objects.create(uid="DONE-GUEST", owner=None)

    await sync_to_async(ownerless_tag)()
    before = set(mail.iterdir())

    transaction_id = await charge_12_kwh_for_an_hour(charger, server, "CP-DONE-GUEST", "DONE-GUEST")

    assert set(mail.iterdir()) - before == set()  # no email at all
    assert not await sync_to_async(SessionNotice.objects.filter(session_id=transaction_id).exists)()


@pytest.mark.django_db
def test_a_session_closed_by_a_rule_is_not_told(mailoutbox):
    """A stale session closed by the server ended long before anyone noticed."""
    charge_point = ChargePoint.objects.create(charge_point_id="CP-DONE-RULE")
    connector = Connector.objects.create(charge_point=charge_point, connector_id=1)
    driver = User.objects.create_user("rule@example.com", language="en")
    token = IdToken.objects.create(uid="DONE-RULE", owner=driver)
    started = timezone.now() - timedelta(days=2)
    session = ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag=token.uid,
        id_token=token,
        status=ChargingSession.Status.COMPLETED,
        started_at=started,
        meter_start_wh=0,
        stopped_at=started + timedelta(hours=1),
        meter_stop_wh=5000,
        energy_wh=5000,
        closed_by="stale session rule",
    )

    session_ended.send(sender=ChargingSession, session=session)

    assert mailoutbox == []
    assert events.tell_session_finished(session.pk) is False
    assert not SessionNotice.objects.exists()


# --- The car stops drawing while its session runs (SuspendedEV) ----------------------------


def driver_with_idle_fee(uid: str, charge_point_id: str, idle_fee: Decimal) -> User:
    driver = driver_with_tag(uid, "sv", charge_point_id)
    site = ChargePoint.objects.get(charge_point_id=charge_point_id).site
    tariff = Tariff.objects.create(
        name=f"Idle {uid}",
        price_per_kwh=Decimal(2),
        idle_fee_per_minute=idle_fee,
        idle_grace_minutes=15,
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    return driver


def status(connector_status: str, at: datetime) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": connector_status,
        "timestamp": iso(at),
    }


async def meter_value(cp, transaction_id: int, at: datetime, wh: int, watts: int) -> None:
    sampled = [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"},
    ]
    await send(
        cp,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [{"timestamp": iso(at), "sampledValue": sampled}],
        },
    )


async def samples_show_the_car_stopped(cp, transaction_id: int, at: datetime) -> None:
    """The meter: 7 kW two minutes before `at`, nothing drawn from then to `at`, when
    it reads 0 W: billing counts the car stopped from `at`."""
    await meter_value(cp, transaction_id, at - timedelta(minutes=2), 10_000, 7000)
    await meter_value(cp, transaction_id, at, 10_000, 0)


async def test_a_car_that_stops_charging_gets_one_email_with_the_idle_fee_and_its_time(
    mail_server, charger, db_access
):
    server, mail = mail_server
    driver = await sync_to_async(driver_with_idle_fee)("IDLE-SV", "CP-IDLE-SV", Decimal(2))
    suspended_at = ago(minutes=8)
    # The meter values come after the status, and show the car drawing until a minute
    # ago: billing's idle time starts then, not at the status.
    stopped_at = ago(minutes=1)

    async with charger("CP-IDLE-SV", server=server) as cp:
        answer = await send(
            cp,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "IDLE-SV",
                "meterStart": 0,
                "timestamp": iso(ago(minutes=30)),
            },
        )
        await send(cp, "StatusNotification", status("Charging", ago(minutes=29)))
        await send(cp, "StatusNotification", status("SuspendedEV", suspended_at))
        await send(cp, "StatusNotification", status("SuspendedEV", suspended_at))  # repeated
        await samples_show_the_car_stopped(cp, answer["transactionId"], stopped_at)
        assert await eventually(lambda: mails_to(mail, driver.email))
        # The car draws again, then stops again: still one email for the session.
        await send(cp, "StatusNotification", status("Charging", ago(seconds=30)))
        # Answered: its email, were there one, is written.
        await send(cp, "StatusNotification", status("SuspendedEV", ago(seconds=10)))

    (message,) = mails_to(mail, driver.email)
    assert "Skeppsbron CP-IDLE-SV" in message["Subject"]
    # Through the outbox: one email written and sent (and one line in the portal's list).
    emails = OutboxMessage.objects.filter(recipient=driver, kind="car_stopped", channel="email")
    assert await sync_to_async(list)(emails.values_list("state", flat=True)) == ["sent"]
    body = text_of(message)
    assert f"Laddsession {answer['transactionId']}" in body
    idle_from = (stopped_at + timedelta(minutes=15)).astimezone(ZoneInfo("Europe/Stockholm"))
    session = await ChargingSession.objects.select_related("connector", "id_token").aget(
        pk=answer["transactionId"]
    )
    assert await sync_to_async(idle_fee_starts)(session) == stopped_at + timedelta(minutes=15)
    # 2.00 SEK a minute net, 25 % VAT; in Swedish, from the grace period's end.
    assert f"Från cirka {idle_from:%H:%M} tillkommer en parkeringsavgift på 2,50\u00a0SEK" in body
    assert "Flytta den" in body


async def test_no_idle_fee_no_car_stopped_email(mail_server, charger, db_access):
    server, mail = mail_server
    driver = await sync_to_async(driver_with_idle_fee)("IDLE-FREE", "CP-IDLE-FREE", Decimal(0))

    async with charger("CP-IDLE-FREE", server=server) as cp:
        await send(
            cp,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "IDLE-FREE",
                "meterStart": 0,
                "timestamp": iso(ago(minutes=30)),
            },
        )
        # Answered: its email, were there one, is written.
        await send(cp, "StatusNotification", status("SuspendedEV", ago(minutes=1)))

    assert mails_to(mail, driver.email) == []
