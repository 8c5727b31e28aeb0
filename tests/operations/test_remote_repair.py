"""Remote repair from a ticket: a simulated 1.6 charger over a real WebSocket gets the
standard sequence (TriggerMessage StatusNotification, soft Reset, hard Reset,
UnlockConnector), which stops at the step after which the connector works again; every
step and answer is on the ticket."""

import asyncio
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from operations import repair, tasks, tickets
from operations.models import Ticket, TicketEntry
from stations.models import ChargePoint, ChargingSession, Connector
from tests.charger import SimulatedCharger
from tests.conftest import eventually, register
from tests.stations.ocpp_wire import ago, iso, send


async def _status(cp: SimulatedCharger, status: str, error_code: str = "NoError") -> None:
    await send(
        cp,
        "StatusNotification",
        {
            "connectorId": 1,
            "errorCode": error_code,
            "status": status,
            "timestamp": iso(ago(seconds=1)),
        },
    )


def _faulted_ticket(charge_point_id: str) -> Ticket:
    connector = Connector.objects.select_related("charge_point").get(
        charge_point__charge_point_id=charge_point_id, connector_id=1
    )
    # Joins the ticket the fault opened by itself, or opens it.
    ticket, _created = tickets.raise_fault(
        Ticket.Kind.FAULTED,
        title="Connector 1 faulted",
        charge_point=connector.charge_point,
        connector=connector,
    )
    return ticket


def _repair_log(ticket: Ticket) -> list[tuple[str, str]]:
    return [
        (entry.data.get("phase", ""), entry.text)
        for entry in TicketEntry.objects.filter(ticket=ticket, kind=TicketEntry.Kind.REPAIR)
    ]


def _run_in_worker(ticket: Ticket):
    # Its own thread, as a Celery worker would be: the test's loop keeps playing the charger.
    return sync_to_async(tasks.remote_repair, thread_sensitive=False)(ticket.pk)


@override_settings(OPERATIONS_REPAIR_WAIT=2)
async def test_repair_stops_at_the_soft_reset_after_which_the_connector_is_available(
    charger, db_access
):
    async with charger("REPAIR-SOFT") as cp:
        await cp.boot()
        await _status(cp, "Faulted", "GroundFailure")
        ticket = await sync_to_async(_faulted_ticket)("REPAIR-SOFT")
        repairing = asyncio.ensure_future(_run_in_worker(ticket))
        assert await eventually(lambda: ("Reset", {"type": "Soft"}) in cp.received, timeout=20)
        await _status(cp, "Available")  # back after its restart
        assert await repairing is True

        sent = [(name, payload) for name, payload in cp.received]
        assert sent == [
            ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}),
            ("Reset", {"type": "Soft"}),
        ]
    log = await sync_to_async(_repair_log)(ticket)
    assert log == [
        (
            "started",
            "Remote repair started: TriggerMessage StatusNotification, Soft reset, Hard reset, "
            "Unlock connector.",
        ),
        ("step", "TriggerMessage StatusNotification: Accepted"),
        ("step", "Soft reset: Accepted"),
        ("finished", "Recovered after remote repair: Soft reset."),
    ]
    await sync_to_async(ticket.refresh_from_db)()
    assert ticket.status == Ticket.Status.RESOLVED


@override_settings(OPERATIONS_REPAIR_WAIT=0.3)
async def test_a_charger_that_never_recovers_gets_every_step_and_the_ticket_stays_open(
    charger, db_access
):
    async with charger("REPAIR-NEVER") as cp:
        await cp.boot()
        await _status(cp, "Faulted", "ConnectorLockFailure")
        cp.answers["UnlockConnector"] = {"status": "UnlockFailed"}
        ticket = await sync_to_async(_faulted_ticket)("REPAIR-NEVER")
        assert await _run_in_worker(ticket) is False
        assert [(name, payload) for name, payload in cp.received] == [
            ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}),
            ("Reset", {"type": "Soft"}),
            ("Reset", {"type": "Hard"}),
            ("UnlockConnector", {"connector_id": 1}),
        ]
    log = await sync_to_async(_repair_log)(ticket)
    assert log[1:] == [
        ("step", "TriggerMessage StatusNotification: Accepted"),
        ("step", "Soft reset: Accepted"),
        ("step", "Hard reset: Accepted"),
        ("step", "Unlock connector: UnlockFailed"),
        ("finished", "Not recovered after the remote repair: someone needs to go and look."),
    ]
    await sync_to_async(ticket.refresh_from_db)()
    assert ticket.is_open
    # Each command is also in the charger's command log, as sent by the repair.
    sources = await sync_to_async(
        lambda: list(ticket.charge_point.commands.values_list("source", flat=True))
    )()
    assert sources == ["repair"] * 4


@override_settings(OPERATIONS_REPAIR_WAIT=0.3)
async def test_no_reset_while_a_driver_is_charging_at_the_charger(charger, db_access):
    async with charger("REPAIR-BUSY") as cp:
        await cp.boot()
        await _status(cp, "Faulted", "GroundFailure")

        def busy() -> Ticket:
            charge_point = ChargePoint.objects.get(charge_point_id="REPAIR-BUSY")
            other = Connector.objects.create(charge_point=charge_point, connector_id=2)
            ChargingSession.objects.create(
                charge_point=charge_point,
                connector=other,
                id_tag="DRIVER",
                started_at=datetime.now(UTC),
                meter_start_wh=0,
            )
            return _faulted_ticket("REPAIR-BUSY")

        ticket = await sync_to_async(busy)()
        assert await _run_in_worker(ticket) is False
        assert [name for name, _payload in cp.received] == ["TriggerMessage", "UnlockConnector"]
    log = await sync_to_async(_repair_log)(ticket)
    assert ("step", "Soft reset skipped: a driver is charging at this charger.") in log
    assert ("step", "Hard reset skipped: a driver is charging at this charger.") in log


@override_settings(OPERATIONS_REPAIR_WAIT=5)
def test_an_offline_chargers_ticket_gets_the_steps_without_unlock_and_no_waiting(db_access):
    # Commands do their database work on threads of their own: committed data (db_access).
    charge_point = register("REPAIR-GONE", is_connected=False)
    ticket, _created = tickets.raise_fault(
        Ticket.Kind.OFFLINE, title="REPAIR-GONE offline", charge_point=charge_point
    )
    outcome = repair.run(ticket)
    assert outcome == repair.Outcome(False, ["trigger_status", "soft_reset", "hard_reset"])
    assert _repair_log(ticket)[1:] == [
        ("step", "TriggerMessage StatusNotification: The charger is offline right now."),
        ("step", "Soft reset: The charger is offline right now."),
        ("step", "Hard reset: The charger is offline right now."),
        ("finished", "Not recovered after the remote repair: someone needs to go and look."),
    ]


@pytest.mark.django_db
def test_a_ticket_without_a_charger_a_resolved_one_or_one_being_repaired_is_refused():
    site_ticket = Ticket.objects.create(kind=Ticket.Kind.OTHER, title="Signage")
    with pytest.raises(repair.RepairRefused, match="about no charger"):
        repair.run(site_ticket)

    charge_point = register("REPAIR-REFUSED")
    ticket, _created = tickets.raise_fault(
        Ticket.Kind.OFFLINE, title="offline", charge_point=charge_point
    )
    tickets.add_repair_entry(ticket, "Remote repair started", {"phase": "started"})
    with pytest.raises(repair.RepairRefused, match="running already"):
        repair.run(ticket)
    tickets.add_repair_entry(ticket, "Not recovered", {"phase": "finished"})
    assert not repair.is_running(ticket)

    tickets.resolve(ticket, "Fixed on site")
    with pytest.raises(repair.RepairRefused, match="resolved already"):
        repair.run(ticket)
    assert tasks.remote_repair(ticket.pk) is None
    assert tasks.remote_repair(10**9) is None
