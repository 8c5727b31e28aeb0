""" "Notify me when free" from the charger's side: a simulated OCPP 1.6 charger over a
real WebSocket against a real server process (email written to files, tasks inline).
The watcher is told once, by email and in the portal, and the watch ends, however often
the charger repeats Available."""

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from notifications import events
from notifications.models import Notification, OutboxMessage, Watch
from stations.models import Connector, Site
from tests.conftest import PASSWORD, register
from tests.mail import mails_to
from tests.stations.ocpp_wire import iso, send
from users.models import User


@pytest.fixture(scope="module")
def mail_server(start_mail_server) -> tuple[str, Path]:
    return start_mail_server()


def status(value: str) -> dict:
    return {
        "connectorId": 1,
        "status": value,
        "errorCode": "NoError",
        "timestamp": iso(timezone.now()),
    }


def site_and_driver(charge_point_id: str) -> User:
    site = Site.objects.create(name=f"Kajen {charge_point_id}", city="Göteborg")
    register(charge_point_id, PASSWORD, site=site)
    return User.objects.create_user(f"{charge_point_id.lower()}@example.com", language="en")


def watch(driver: User, charge_point_id: str) -> None:
    connector = Connector.objects.get(charge_point__charge_point_id=charge_point_id)
    events.watch(driver, [connector])


async def test_a_watched_connector_going_available_tells_the_watcher_once_and_the_watch_ends(
    mail_server, charger, db_access
):
    server, mail = mail_server
    driver = await sync_to_async(site_and_driver)("CP-WATCH-1")
    async with charger("CP-WATCH-1", server=server) as cp:
        await send(cp, "StatusNotification", status("Charging"))
        await sync_to_async(watch)(driver, "CP-WATCH-1")

        await send(cp, "StatusNotification", status("Available"))
        await send(cp, "StatusNotification", status("Available"))  # repeated
        await send(cp, "StatusNotification", status("Charging"))
        await send(cp, "StatusNotification", status("Available"))  # free again
        # Answered: what each status caused is written (tasks run in the server).

    (message,) = mails_to(mail, driver.email)
    assert "A charger is free at Kajen CP-WATCH-1" in message["Subject"]
    assert await sync_to_async(Watch.objects.filter(user=driver, notified_at=None).count)() == 0
    assert await sync_to_async(Notification.objects.filter(user=driver).count)() == 1
    sent = OutboxMessage.objects.filter(recipient=driver, state=OutboxMessage.State.SENT)
    assert await sync_to_async(sent.count)() == 2  # the email and the portal's list
