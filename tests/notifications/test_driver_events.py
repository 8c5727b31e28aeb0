"""A driver hears their session start, its end with the cost billing froze, and a wallet
running low (notifications/events.py), on the channels they want
(notifications/preferences.py KINDS defaults until they choose)."""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from celery.signals import task_prerun
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing.models import BillingAccount, Tariff, TariffAssignment
from billing.wallet import credit_wallet_manually, debit_wallet, record_topup
from notifications import events, preferences, unsubscribe
from notifications.models import Notification, OutboxMessage
from stations import signals
from stations.models import ChargingSession, Connector, Site
from tests.conftest import PASSWORD, register
from tests.mail import mails_to
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken, User

CHARGER = "CP-DRIVER-DAY"


@pytest.fixture(scope="module")
def mail_server(start_mail_server) -> tuple[str, Path]:
    return start_mail_server()


def driver_at_priced_site() -> User:
    site = Site.objects.create(name="Skeppsbron", city="Göteborg")
    register(CHARGER, PASSWORD, site=site)
    tariff = Tariff.objects.create(name="Skeppsbron", price_per_kwh=Decimal(2))
    TariffAssignment.objects.create(tariff=tariff, site=site)
    driver = User.objects.create_user("day@example.com", language="en")
    IdToken.objects.create(uid="DAY-TAG", owner=driver)
    BillingAccount.objects.create(user=driver, payment_method=BillingAccount.PaymentMethod.INVOICE)
    return driver


def titles(driver: User) -> list[tuple[str, str]]:
    rows = Notification.objects.filter(user=driver).order_by("pk")
    return [(row.title, row.body) for row in rows]


async def test_the_driver_sees_the_start_and_the_cost_of_a_session_in_the_portal(
    mail_server, charger, db_access
):
    server, mail = mail_server
    driver = await sync_to_async(driver_at_priced_site)()

    async with charger(CHARGER, server=server) as cp:
        started = await send(
            cp,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "DAY-TAG",
                "meterStart": 100_000,
                "timestamp": iso(ago(minutes=65)),
            },
        )
        assert await sync_to_async(titles)(driver) == [
            ("Charging started at Skeppsbron", f"Charger {CHARGER}, connector 1")
        ]
        stop = {
            "transactionId": started["transactionId"],
            "meterStop": 112_000,
            "timestamp": iso(ago(minutes=5)),
            "idTag": "DAY-TAG",
        }
        await send(cp, "StopTransaction", stop)
        await send(cp, "StopTransaction", stop)  # retransmitted: told once

    told = await sync_to_async(titles)(driver)
    assert told[0][0] == "Charging started at Skeppsbron"
    assert ("Session at Skeppsbron ended", "12.00 kWh, 30.00\xa0SEK") in told
    assert len(told) == 3  # and "charging finished", as before
    # By email only "charging finished": the start and the cost are in the portal only.
    assert [m["Subject"] for m in mails_to(mail, driver.email)] == [
        "Charging finished at Skeppsbron"
    ]


@pytest.fixture
def wallet_driver(make_user, settings) -> User:
    settings.BILLING_WALLET_LOW_BALANCE = 50
    driver = make_user(language="en")
    staff = make_user(is_staff=True)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    return driver


def test_a_debit_below_the_threshold_tells_the_driver_once_by_email_and_portal(
    wallet_driver, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        debit_wallet(wallet_driver, Decimal(40), "session:1")  # 60 left: above 50
        debit_wallet(wallet_driver, Decimal(20), "session:2")  # 40 left: told
        debit_wallet(wallet_driver, Decimal(20), "session:2")  # the same debit again
        debit_wallet(wallet_driver, Decimal(10), "session:3")  # still low: not again

    [mail] = mailoutbox
    assert mail.subject == "Your wallet is running low"
    assert "40.00\xa0SEK" in mail.body and "/account/wallet/" in mail.body
    assert "List-Unsubscribe" in mail.extra_headers  # a driver may turn it off
    [notice] = Notification.objects.filter(user=wallet_driver)
    assert notice.url == "/account/wallet/"

    # Topped up above the threshold and down again: told again.
    with django_capture_on_commit_callbacks(execute=True):
        record_topup(wallet_driver, Decimal(100), "pi_1")  # 130
        debit_wallet(wallet_driver, Decimal(90), "session:4")  # 40
    assert len(mailoutbox) == 2


class Rollback(Exception):
    pass


def test_a_rolled_back_debit_tells_nobody(transactional_db, wallet_driver, mailoutbox):
    with pytest.raises(Rollback), transaction.atomic():
        debit_wallet(wallet_driver, Decimal(60), "session:1")  # 40 left: would tell
        raise Rollback

    assert mailoutbox == []
    assert not OutboxMessage.objects.filter(kind="wallet_low").exists()
    debit_wallet(wallet_driver, Decimal(60), "session:1")  # committed this time: told
    assert len(mailoutbox) == 1


def test_the_unsubscribe_link_of_a_kind_without_its_own_field_keeps_the_portal(
    wallet_driver, client
):
    link = unsubscribe.url(wallet_driver, preferences.WALLET_LOW)
    assert client.post(urlsplit(link).path).status_code == 200  # RFC 8058 one click

    assert not preferences.wants(wallet_driver, preferences.WALLET_LOW, "email")
    assert preferences.wants(wallet_driver, preferences.WALLET_LOW, "portal")
    # Other kinds keep their defaults: the start of a session stays portal-only.
    assert not preferences.wants(wallet_driver, preferences.SESSION_STARTED, "email")
    assert preferences.wants(wallet_driver, preferences.SESSION_STARTED, "portal")


def test_a_driver_without_an_active_owner_is_told_nothing(db):
    assert events.tell_session_started(987654) == 0
    assert events.tell_session_priced(987654) == 0
    assert events.tell_wallet_low(987654, Decimal(1)) == 0


def paused_session(name: str, owner: User | None) -> ChargingSession:
    """A session of `owner`'s token running for 30 minutes; its car does not draw now."""
    charge_point = register(f"CP-{name}")
    connector = Connector.objects.create(
        charge_point=charge_point, connector_id=1, status=Connector.Status.SUSPENDED_EV
    )
    token = IdToken.objects.create(uid=name, owner=owner)
    session = ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag=token.uid,
        id_token=token,
        started_at=ago(minutes=30),
        meter_start_wh=0,
    )
    # As the MeterValues handler hands it to the listeners: with its connector and token.
    return ChargingSession.objects.select_related("connector", "id_token").get(pk=session.pk)


@contextmanager
def tasks_run() -> Iterator[list[str]]:
    """The names of the Celery tasks run (inline, as queued) inside the block."""
    ran: list[str] = []

    def note(sender: object = None, **kwargs: object) -> None:
        ran.append(sender.name.rsplit(".", 1)[-1])

    task_prerun.connect(note, weak=False)
    try:
        yield ran
    finally:
        task_prerun.disconnect(note)


def car_stopped(session: ChargingSession) -> None:
    """What a charger's SuspendedEV status, then its MeterValues, tell the listeners."""
    signals.connector_status_changed.send(
        sender=Connector, connector=session.connector, previous_status=Connector.Status.CHARGING
    )
    signals.meter_values_received.send(sender=ChargingSession, session=session, samples=[])


@pytest.mark.parametrize("owned", [True, False])
def test_a_session_on_an_ownerless_tag_queues_no_driver_task(db, owned):
    # Each task would publish to the broker inside the charger's call, to tell nobody:
    # its start, the car stopping (status and meter values) and its stop queue nothing.
    # (Some tariff has an idle fee: the car stopping is worth telling of.)
    Tariff.objects.create(name="Idle", idle_fee_per_minute=Decimal(2))
    owner = User.objects.create_user(f"owner-{owned}@example.com") if owned else None
    session = paused_session(f"OWNERLESS-{owned}", owner)

    with tasks_run() as ran:
        signals.session_started.send(sender=ChargingSession, session=session)
        car_stopped(session)
        session.status, session.closed_by = ChargingSession.Status.COMPLETED, "charger"
        session.stopped_at = ago(minutes=1)
        session.save()
        signals.session_ended.send(sender=ChargingSession, session=session)

    driver_tasks = {
        "tell_session_started",
        "tell_car_stopped",
        "tell_idle_fee_soon",
        "tell_session_finished",
    }
    assert (set(ran) & driver_tasks) == (driver_tasks if owned else set())
    assert "settle_sessions" in ran  # billing settles every session, owned or not


def test_a_car_that_stops_where_no_tariff_has_an_idle_fee_queues_no_idle_task(db):
    # Nothing to warn of, nor a fee in "your car stopped": each MeterValues of a paused
    # car would publish two tasks that tell nobody, in the charger's call. Until a tariff
    # (saved in this process) has an idle fee: the very next MeterValues asks again.
    Tariff.objects.create(name="Free to park", price_per_kwh=Decimal(2))
    session = paused_session("PARKED", User.objects.create_user("parked@example.com"))
    idle = {"tell_car_stopped", "tell_idle_fee_soon"}

    with tasks_run() as ran:
        car_stopped(session)  # what a fresh process does: it asks once
        assert not set(ran) & idle
        with CaptureQueriesContext(connection) as asked:
            car_stopped(session)
        assert not set(ran) & idle
        # Remembered: neither the tariffs nor the driver's notices are asked again.
        questions = ('"idle_fee_per_minute" >', "notifications_sessionnotice")
        assert [q["sql"] for q in asked if any(t in q["sql"] for t in questions)] == []

        Tariff.objects.create(name="Idle fee", idle_fee_per_minute=Decimal(1))
        car_stopped(session)
    assert set(ran) & idle == idle
