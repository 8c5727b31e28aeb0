"""Faults become tickets: simulated OCPP 1.6 chargers over a real WebSocket against a real
server process (manage.py serve; its receivers run there, its alert emails go to files).

The server runs a message's receivers and their tasks before it answers (after the
handler's commit, tasks eager: tests/conftest.py server_env), so once the charger has its
answer the ticket and its email exist.
"""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from ocpp.exceptions import InternalError
from ocpp.v16 import call

from notifications import inbox
from notifications.models import Preferences
from operations import tasks
from operations.models import ChargerBoot, Ticket, TicketEntry
from stations.models import ChargePoint, OcppMessage, SecurityEvent, Site
from stations.ocpp import commands
from tests.charger import now
from tests.conftest import PASSWORD, eventually, register
from tests.mail import mails_to, text_of
from tests.operations.technicians import make_technician
from tests.stations.ocpp_wire import send
from users.models import User

pytestmark = pytest.mark.usefixtures("db_access")


def _site_with_technician(charge_point_id: str) -> tuple[Site, str]:
    site = Site.objects.create(name=f"Depå {charge_point_id}")
    register(charge_point_id, PASSWORD, site=site)
    return site, make_technician(site).email


def status(value: str, error_code: str = "NoError", connector_id: int = 1, **extra) -> dict:
    return {
        "connectorId": connector_id,
        "status": value,
        "errorCode": error_code,
        "timestamp": now(),
        **extra,
    }


def tickets_of(charge_point_id: str, kind: str = Ticket.Kind.FAULTED) -> list[Ticket]:
    return list(
        Ticket.objects.filter(charge_point__charge_point_id=charge_point_id, kind=kind).order_by(
            "pk"
        )
    )


async def test_a_faulted_connector_opens_one_ticket_with_its_evidence_and_alerts_the_site(
    mail_server, charger
):
    server, mail = mail_server
    _site, technician = await sync_to_async(_site_with_technician)("CP-OPS-FAULT")
    async with charger("CP-OPS-FAULT", server=server) as cp:
        await send(cp, "StatusNotification", status("Available"))
        # The message log writes in batches: wait for the frames so far to be there.
        logged = OcppMessage.objects.filter(
            charge_point_id="CP-OPS-FAULT", action="StatusNotification"
        )
        assert await eventually(logged.exists)

        answer = await send(
            cp,
            "StatusNotification",
            status(
                "Faulted",
                "GroundFailure",
                info="RCD tripped",
                vendorId="com.example",
                vendorErrorCode="E-42",
            ),
        )

    assert answer == {}
    (ticket,) = await sync_to_async(tickets_of)("CP-OPS-FAULT")
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.connector_id is not None and ticket.site_id is not None
    assert "GroundFailure" in ticket.title and "E-42" in ticket.title
    (evidence,) = await sync_to_async(list)(ticket.entries.filter(kind=TicketEntry.Kind.EVIDENCE))
    data = evidence.data
    assert (data["error_code"], data["vendor_id"], data["vendor_error_code"], data["info"]) == (
        "GroundFailure",
        "com.example",
        "E-42",
        "RCD tripped",
    )
    assert [event["status"] for event in data["status_history"]] == ["Faulted", "Available"]
    assert any(m["action"] == "StatusNotification" for m in data["last_messages"])
    (message,) = mails_to(mail, technician)
    assert f"Ticket #{ticket.pk} opened" in message["Subject"]
    assert "CP-OPS-FAULT" in text_of(message)


def _site_with_portal_only_technician(charge_point_id: str) -> User:
    site = Site.objects.create(name=f"Depå {charge_point_id}")
    register(charge_point_id, PASSWORD, site=site)
    technician = make_technician(site)
    Preferences.objects.create(user=technician, channels={"ticket_alerts": ["portal"]})
    return technician


async def test_a_technician_who_chose_the_portal_finds_the_fault_there_and_gets_no_email(
    mail_server, charger
):
    server, mail = mail_server
    technician = await sync_to_async(_site_with_portal_only_technician)("CP-OPS-PORTAL")
    async with charger("CP-OPS-PORTAL", server=server) as cp:
        await send(cp, "StatusNotification", status("Faulted", "GroundFailure"))

    (ticket,) = await sync_to_async(tickets_of)("CP-OPS-PORTAL")
    (shown,) = await sync_to_async(list)(inbox.latest(technician))
    assert shown.title == f"Ticket #{ticket.pk} opened: {ticket.title}"
    assert shown.url == f"/admin/operations/ticket/{ticket.pk}/change/"
    assert mails_to(mail, technician.email) == []
    alert = await ticket.entries.aget(kind=TicketEntry.Kind.ALERT)
    assert alert.data["to"] == [technician.email]


async def test_the_same_fault_ten_times_while_flapping_is_one_ticket_and_one_alert(
    mail_server, charger
):
    server, mail = mail_server
    _site, technician = await sync_to_async(_site_with_technician)("CP-OPS-FLAP")
    async with charger("CP-OPS-FLAP", server=server) as cp:
        for _ in range(5):
            await send(cp, "StatusNotification", status("Faulted", "HighTemperature"))
            await send(cp, "StatusNotification", status("Faulted", "HighTemperature"))
            await send(cp, "StatusNotification", status("Available"))
        await send(cp, "StatusNotification", status("Faulted", "HighTemperature"))

    (ticket,) = await sync_to_async(tickets_of)("CP-OPS-FLAP")
    assert ticket.occurrences == 11
    assert ticket.status == Ticket.Status.OPEN
    alerts = ticket.entries.filter(kind=TicketEntry.Kind.ALERT)
    assert await sync_to_async(alerts.count)() == 1
    assert len(mails_to(mail, technician)) == 1


@pytest.mark.parametrize(
    ("cp_id", "back"),
    # A charger may go from Faulted straight to Charging (a car still plugged in).
    [("CP-OPS-BACK", "Available"), ("CP-OPS-CHARGES", "Charging")],
)
async def test_the_connector_available_or_charging_again_resolves_the_ticket_and_says_why(
    mail_server, charger, cp_id, back
):
    server, _mail = mail_server
    await sync_to_async(_site_with_technician)(cp_id)
    async with charger(cp_id, server=server) as cp:
        await send(cp, "StatusNotification", status("Faulted", "ConnectorLockFailure"))
        await send(cp, "StatusNotification", status(back))

    (ticket,) = await sync_to_async(tickets_of)(cp_id)
    assert ticket.status == Ticket.Status.RESOLVED
    assert ticket.resolved_at is not None
    assert ticket.resolution.startswith(f"Connector {back} again at")


async def test_an_error_code_on_a_working_connector_is_history_not_a_ticket(mail_server, charger):
    """OCPP 1.6 §4.9: a charger may report an error it charges through (a warning)."""
    server, _mail = mail_server
    await sync_to_async(_site_with_technician)("CP-OPS-WARN")
    async with charger("CP-OPS-WARN", server=server) as cp:
        await send(cp, "StatusNotification", status("Charging", "HighTemperature"))

    assert await sync_to_async(tickets_of)("CP-OPS-WARN") == []


async def test_offline_past_the_threshold_is_a_ticket_and_reconnecting_resolves_it(
    mail_server, charger, settings, mailoutbox
):
    server, _mail = mail_server
    _site, technician = await sync_to_async(_site_with_technician)("CP-OPS-GONE")
    async with charger("CP-OPS-GONE", server=server) as cp:
        await send(cp, "Heartbeat", {})
    charge_point = ChargePoint.objects.filter(charge_point_id="CP-OPS-GONE", is_connected=False)
    gone = await eventually(charge_point.first)
    assert gone is not None

    threshold = timedelta(seconds=settings.OPERATIONS_OFFLINE_ALERT_AFTER)
    await sync_to_async(tasks.sweep)(now=gone.disconnected_at + threshold - timedelta(seconds=1))
    assert await sync_to_async(tickets_of)("CP-OPS-GONE", Ticket.Kind.OFFLINE) == []

    await sync_to_async(tasks.sweep)(now=gone.disconnected_at + threshold + timedelta(seconds=1))
    (ticket,) = await sync_to_async(tickets_of)("CP-OPS-GONE", Ticket.Kind.OFFLINE)
    assert ticket.status == Ticket.Status.OPEN
    assert [m.to for m in mailoutbox] == [[technician]]  # the sweep ran here
    # The next sweep finds the ticket open: no second ticket, no new occurrence.
    await sync_to_async(tasks.sweep)(now=gone.disconnected_at + threshold * 2)
    await sync_to_async(ticket.refresh_from_db)()
    assert ticket.occurrences == 1

    async with charger("CP-OPS-GONE", server=server) as cp:
        await send(cp, "Heartbeat", {})

    await sync_to_async(ticket.refresh_from_db)()
    assert ticket.status == Ticket.Status.RESOLVED
    assert ticket.resolution.startswith("Charger online again at")


@pytest.mark.parametrize(
    ("event_type", "ticketed"),
    [
        ("TamperDetectionActivated", True),
        ("InvalidFirmwareSignature", True),
        ("MemoryExhaustion", True),
        ("InvalidChargePointCertificate", True),
        ("InvalidCentralSystemCertificate", True),
        ("StartupOfTheDevice", False),
        ("SettingSystemTime", False),
    ],
)
async def test_a_security_event_is_answered_and_stored_and_ticketed_if_critical(
    mail_server, charger, event_type, ticketed
):
    server, _mail = mail_server
    cp_id = f"CP-OPS-SEC-{event_type[:12]}"
    await sync_to_async(_site_with_technician)(cp_id)
    payload = {"type": event_type, "timestamp": now(), "techInfo": "door sensor"}
    async with charger(cp_id, server=server) as cp:
        assert await send(cp, "SecurityEventNotification", payload) == {}

    stored = SecurityEvent.objects.filter(charge_point__charge_point_id=cp_id, type=event_type)
    assert await sync_to_async(stored.count)() == 1
    found = await sync_to_async(tickets_of)(cp_id, Ticket.Kind.SECURITY_EVENT)
    assert len(found) == (1 if ticketed else 0)
    if ticketed:
        assert found[0].severity == Ticket.Severity.CRITICAL


async def test_three_boots_within_an_hour_open_a_ticket(mail_server, charger):
    server, _mail = mail_server
    await sync_to_async(_site_with_technician)("CP-OPS-BOOT")
    async with charger("CP-OPS-BOOT", server=server) as cp:
        await cp.boot()
        await cp.boot()
        assert await sync_to_async(tickets_of)("CP-OPS-BOOT", Ticket.Kind.REPEATED_BOOTS) == []
        await cp.boot()

    boots = ChargerBoot.objects.filter(charge_point__charge_point_id="CP-OPS-BOOT")
    assert await sync_to_async(boots.count)() == 3
    (ticket,) = await sync_to_async(tickets_of)("CP-OPS-BOOT", Ticket.Kind.REPEATED_BOOTS)
    assert ticket.status == Ticket.Status.OPEN

    # Up for a whole hour since the last boot: the sweep resolves it.
    await sync_to_async(tasks.sweep)(now=timezone.now() + timedelta(hours=1, minutes=1))
    await sync_to_async(ticket.refresh_from_db)()
    assert ticket.status == Ticket.Status.RESOLVED


async def test_a_rejected_remote_start_opens_a_ticket_and_an_accepted_one_resolves_it(
    mail_server, charger
):
    server, _mail = mail_server
    await sync_to_async(_site_with_technician)("CP-OPS-RS")
    async with charger("CP-OPS-RS", server=server) as cp:
        await cp.boot()  # the server has taken the connection: a command can reach it
        cp.answers["RemoteStartTransaction"] = {"status": "Rejected"}
        start = call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1)
        answer = await commands.send("CP-OPS-RS", start, source="test")
        assert answer.status == "Rejected"

        (ticket,) = await sync_to_async(tickets_of)("CP-OPS-RS", Ticket.Kind.REMOTE_START_FAILED)
        assert ticket.status == Ticket.Status.OPEN
        assert "Rejected" in ticket.title

        cp.answers["RemoteStartTransaction"] = {"status": "Accepted"}
        await commands.send("CP-OPS-RS", start, source="test")

    await sync_to_async(ticket.refresh_from_db)()
    assert ticket.status == Ticket.Status.RESOLVED


async def test_a_remote_start_answered_with_a_callerror_opens_a_ticket(mail_server, charger):
    server, _mail = mail_server
    await sync_to_async(_site_with_technician)("CP-OPS-RS-ERR")
    async with charger("CP-OPS-RS-ERR", server=server) as cp:
        await cp.boot()  # the server has taken the connection: a command can reach it
        cp.answers["RemoteStartTransaction"] = InternalError(description="relay stuck")
        start = call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1)
        with pytest.raises(commands.CallErrorReceived):
            await commands.send("CP-OPS-RS-ERR", start, source="test")

    (ticket,) = await sync_to_async(tickets_of)("CP-OPS-RS-ERR", Ticket.Kind.REMOTE_START_FAILED)
    assert ticket.status == Ticket.Status.OPEN
