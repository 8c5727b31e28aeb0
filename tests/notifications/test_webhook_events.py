"""Integrators hear a charger's day from the charger's side: a simulated OCPP 1.6
charger over a real WebSocket against a real server process (tasks inline) posts every
event (notifications/webhooks.py EVENTS) to a local receiver, signed, each naming the
charger by its charge point id."""

import json
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import Tariff, TariffAssignment
from notifications import webhooks
from stations.models import Site
from tests.conftest import PASSWORD, eventually, register
from tests.notifications.webhook_receiver import Receiver, readme_verify
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken, User

CHARGER = "CP-HOOKS-DAY"


def status(value: str) -> dict:
    return {
        "connectorId": 1,
        "status": value,
        "errorCode": "NoError",
        "timestamp": iso(timezone.now()),
    }


def site_with_endpoint(receiver: Receiver) -> str:
    """A charger at a site priced 2 SEK/kWh, a driver's tag, and an endpoint for every
    event; returns the endpoint's secret."""
    site = Site.objects.create(name="Hamnen", city="Göteborg")
    register(CHARGER, PASSWORD, site=site)
    tariff = Tariff.objects.create(name="Hamnen", price_per_kwh=Decimal(2))
    TariffAssignment.objects.create(tariff=tariff, site=site)
    driver = User.objects.create_user("hooks@example.com", language="en")
    IdToken.objects.create(uid="HOOKS-TAG", owner=driver)
    staff = User.objects.create_user("integrator@example.com", is_staff=True)
    return webhooks.create_endpoint(staff, receiver.url).secret


def received(receiver: Receiver) -> list[dict]:
    return [json.loads(body) for _headers, body in receiver.requests]


def named(receiver: Receiver, event: str) -> list[dict]:
    return [body["data"] for body in received(receiver) if body["event"] == event]


async def test_a_chargers_day_reaches_the_integrator_signed_and_named_by_charge_point_id(
    charger, db_access, receiver
):
    secret = await sync_to_async(site_with_endpoint)(receiver)

    async with charger(CHARGER) as cp:
        await send(cp, "StatusNotification", {**status("Faulted"), "errorCode": "GroundFailure"})
        await send(cp, "StatusNotification", status("Available"))  # the fault is over
        started = await send(
            cp,
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "HOOKS-TAG",
                "meterStart": 100_000,
                "timestamp": iso(ago(minutes=65)),
            },
        )
        stop = {
            "transactionId": started["transactionId"],
            "meterStop": 112_000,
            "timestamp": iso(ago(minutes=5)),
            "idTag": "HOOKS-TAG",
        }
        await send(cp, "StopTransaction", stop)
    every = set(webhooks.EVENTS)
    assert await eventually(lambda: every <= {body["event"] for body in received(receiver)})

    verify = readme_verify()
    assert all(verify(secret, headers, body) for headers, body in receiver.requests)
    assert all(body["data"]["charge_point"] == CHARGER for body in received(receiver))
    statuses = [data["status"] for data in named(receiver, webhooks.CONNECTOR_STATUS_CHANGED)]
    assert statuses[:2] == ["Faulted", "Available"]
    [ticket_opened] = named(receiver, webhooks.TICKET_OPENED)
    [ticket_closed] = named(receiver, webhooks.TICKET_CLOSED)
    assert ticket_opened["ticket"] == ticket_closed["ticket"]
    [session_started] = named(receiver, webhooks.SESSION_STARTED)
    assert session_started["session"] == started["transactionId"]
    [session_ended] = named(receiver, webhooks.SESSION_ENDED)
    assert session_ended["energy_kwh"] == "12.000"
    assert session_ended["cost"] == {"gross": "30.00", "currency": "SEK"}
    assert named(receiver, webhooks.CHARGER_ONLINE) and named(receiver, webhooks.CHARGER_OFFLINE)
