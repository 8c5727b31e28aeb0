"""The sweep (operations.tasks.sweep): tickets from the current state, so that a receiver
that failed or a worker that died loses nothing; and what only the sweep finds (stuck
sessions). A socket adds nothing here: the handlers are called as the consumer calls them
(tests/stations/handling.py), with their after-commit receivers run."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from operations import tasks
from operations.models import MaintenanceWindow, Ticket
from stations.models import ChargePoint, ChargingSession, Connector, MeterSample, Site
from stations.signals import status_notification_received
from tests.charger import now as charger_now
from tests.operations.technicians import make_technician
from tests.stations.handling import handle
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db


def faulted(connector_id: int = 1) -> dict:
    return {
        "connectorId": connector_id,
        "status": "Faulted",
        "errorCode": "GroundFailure",
        "timestamp": charger_now(),
    }


def kinds(charge_point_id: str) -> list[tuple[str, str]]:
    return list(
        Ticket.objects.filter(charge_point__charge_point_id=charge_point_id)
        .order_by("pk")
        .values_list("kind", "status")
    )


def test_a_receiver_that_raises_does_not_break_the_answer_and_the_sweep_opens_the_ticket(
    django_capture_on_commit_callbacks, caplog
):
    """Operations' own receiver is replaced by one that crashes, as a bug or a database
    hiccup would make it: the charger still gets its answer, the fault is in the
    history, and the next sweep opens the ticket the receiver missed."""

    def crashing(**kwargs: object) -> None:
        raise RuntimeError("receiver crashed")

    uid = "operations.status"
    assert status_notification_received.disconnect(sender=Connector, dispatch_uid=uid)
    status_notification_received.connect(crashing, sender=Connector, dispatch_uid="crashing")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            answer = handle("CP-SWEEP-CRASH", "StatusNotification", faulted())
    finally:
        status_notification_received.disconnect(sender=Connector, dispatch_uid="crashing")
        from operations import receivers

        status_notification_received.connect(
            receivers.status_received, sender=Connector, dispatch_uid=uid
        )

    assert answer == {}
    assert "receiver crashed" in caplog.text  # logged by send_robust
    assert kinds("CP-SWEEP-CRASH") == []

    assert tasks.sweep()["opened"] == 1
    assert kinds("CP-SWEEP-CRASH") == [("faulted", "open")]
    # Swept again: the open ticket is found, nothing more opens.
    assert tasks.sweep()["opened"] == 0


def test_the_sweep_resolves_a_faulted_ticket_whose_connector_works_again(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        handle("CP-SWEEP-OK", "StatusNotification", faulted())
    # The Available that should have resolved it was lost (a worker died after commit).
    Connector.objects.filter(charge_point__charge_point_id="CP-SWEEP-OK").update(
        status=Connector.Status.AVAILABLE
    )

    assert tasks.sweep()["resolved"] == 1
    ticket = Ticket.objects.get(charge_point__charge_point_id="CP-SWEEP-OK")
    assert ticket.status == Ticket.Status.RESOLVED
    assert ticket.resolution.startswith("Connector Available again")


def _charging_session(charge_point_id: str, *, started: timedelta) -> ChargingSession:
    site = Site.objects.create(name=f"Site {charge_point_id}")
    charge_point = ChargePoint.objects.create(charge_point_id=charge_point_id, site=site)
    connector = Connector.objects.create(
        charge_point=charge_point, connector_id=1, status=Connector.Status.CHARGING
    )
    at = timezone.now() - started
    return ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="TAG-1",
        started_at=at,
        created_at=at,
        meter_start_wh=0,
    )


def _sample(session: ChargingSession, received_ago: timedelta, value: int) -> None:
    at = timezone.now() - received_ago
    MeterSample.objects.create(
        charge_point=session.charge_point,
        connector_id=1,
        session=session,
        timestamp=at,
        value=str(value),
        value_decimal=value,
        received_at=at,
    )


def test_a_charging_session_without_meter_values_for_30_minutes_is_stuck(settings, mailoutbox):
    settings.OPERATIONS_STUCK_SESSION_AFTER = 30 * 60
    stuck = _charging_session("CP-STUCK", started=timedelta(hours=2))
    _sample(stuck, timedelta(minutes=31), 1000)
    moving = _charging_session("CP-MOVING", started=timedelta(hours=2))
    _sample(moving, timedelta(minutes=29), 1000)
    _charging_session("CP-STUCK-EMPTY", started=timedelta(minutes=31))  # no values at all
    _charging_session("CP-YOUNG", started=timedelta(minutes=29))
    technician = make_technician(stuck.charge_point.site)

    tasks.sweep()

    assert kinds("CP-STUCK") == [("stuck_session", "open")]
    assert kinds("CP-STUCK-EMPTY") == [("stuck_session", "open")]
    assert kinds("CP-MOVING") == []
    assert kinds("CP-YOUNG") == []
    # One alert per ticket: the site's technician, and (nobody covers the other site)
    # every technician.
    assert [m.to for m in mailoutbox] == [[technician.email]] * 2


def _values(session: ChargingSession) -> dict:
    sample = {"timestamp": charger_now(), "sampledValue": [{"value": "2000"}]}
    return {"connectorId": 1, "transactionId": session.pk, "meterValue": [sample]}


def _stop(session: ChargingSession) -> dict:
    return {"transactionId": session.pk, "meterStop": 3000, "timestamp": charger_now()}


@pytest.mark.parametrize(
    ("action", "payload", "resolution"),
    [
        ("MeterValues", _values, "Meter values again."),
        ("StopTransaction", _stop, "The session ended."),
    ],
)
def test_meter_values_again_or_the_stop_resolve_the_stuck_session_ticket_at_once(
    settings, django_capture_on_commit_callbacks, action, payload, resolution
):
    settings.OPERATIONS_STUCK_SESSION_AFTER = 30 * 60
    session = _charging_session("CP-STUCK-AGAIN", started=timedelta(minutes=31))
    tasks.sweep()
    assert kinds("CP-STUCK-AGAIN") == [("stuck_session", "open")]

    with django_capture_on_commit_callbacks(execute=True):
        handle("CP-STUCK-AGAIN", action, payload(session))

    ticket = Ticket.objects.get(charge_point__charge_point_id="CP-STUCK-AGAIN")
    assert (ticket.status, ticket.resolution) == (Ticket.Status.RESOLVED, resolution)


def test_values_after_a_silence_past_the_stuck_time_resolve_the_ticket_of_a_session_heard_before(
    settings, django_capture_on_commit_callbacks
):
    """Operations asks for a stuck ticket only when the session's last values heard by
    this process are older than the stuck time (faults.values_came): a session heard,
    then silent past that time and swept stuck, has its ticket resolved by its next
    values all the same."""
    settings.OPERATIONS_STUCK_SESSION_AFTER = 1
    session = _charging_session("CP-STUCK-HEARD", started=timedelta(hours=1))

    def values(wh: int) -> None:
        payload = {
            "connectorId": 1,
            "transactionId": session.pk,
            "meterValue": [{"timestamp": charger_now(), "sampledValue": [{"value": str(wh)}]}],
        }
        with django_capture_on_commit_callbacks(execute=True):
            handle("CP-STUCK-HEARD", "MeterValues", payload)

    values(1000)
    assert tasks.sweep()["opened"] == 0  # values just came: not stuck
    assert wait_until(lambda: tasks.sweep()["opened"], timeout=10) == 1  # a second passed
    assert kinds("CP-STUCK-HEARD") == [("stuck_session", "open")]

    values(2000)

    ticket = Ticket.objects.get(charge_point__charge_point_id="CP-STUCK-HEARD")
    assert (ticket.status, ticket.resolution) == (Ticket.Status.RESOLVED, "Meter values again.")


def test_a_session_younger_than_the_stuck_time_asks_for_no_stuck_ticket(
    settings, django_capture_on_commit_callbacks
):
    """The sweep counts a session's silence from its creation: one created within the stuck
    time cannot have been swept stuck, so neither its first values nor its end ask the
    database for a ticket to resolve (faults.values_came, faults.session_ended)."""
    settings.OPERATIONS_STUCK_SESSION_AFTER = 30 * 60
    session = _charging_session("CP-YOUNG-VALUES", started=timedelta(minutes=29))

    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        handle("CP-YOUNG-VALUES", "MeterValues", _values(session))
        handle("CP-YOUNG-VALUES", "StopTransaction", _stop(session))

    assert [q["sql"] for q in queries if "operations_ticket" in q["sql"]] == []
    assert ChargingSession.objects.get(pk=session.pk).status == ChargingSession.Status.COMPLETED


def test_a_faulted_connector_made_unavailable_then_available_resolves_its_ticket(
    django_capture_on_commit_callbacks,
):
    """Only a connector that was not working is asked about its fault ticket when it
    works again (faults.status_received): Unavailable in between says nothing either
    way, so the Available after it still resolves the ticket at once."""

    def status(value: str) -> None:
        payload = {**faulted(), "status": value, "errorCode": "NoError"}
        with django_capture_on_commit_callbacks(execute=True):
            handle("CP-FAULT-UNAV", "StatusNotification", payload)

    with django_capture_on_commit_callbacks(execute=True):
        handle("CP-FAULT-UNAV", "StatusNotification", faulted())
    status("Unavailable")
    assert kinds("CP-FAULT-UNAV") == [("faulted", "open")]

    status("Available")

    assert kinds("CP-FAULT-UNAV") == [("faulted", "resolved")]


def test_a_stuck_session_that_ends_resolves_its_ticket_at_the_next_sweep(settings):
    settings.OPERATIONS_STUCK_SESSION_AFTER = 30 * 60
    session = _charging_session("CP-STUCK-END", started=timedelta(hours=1))
    tasks.sweep()
    ChargingSession.objects.filter(pk=session.pk).update(
        status=ChargingSession.Status.COMPLETED, stopped_at=timezone.now()
    )

    assert tasks.sweep()["resolved"] == 1
    assert kinds("CP-STUCK-END") == [("stuck_session", "resolved")]


def test_a_charger_that_never_connected_is_not_offline():
    ChargePoint.objects.create(charge_point_id="CP-NEVER")

    tasks.sweep(now=timezone.now() + timedelta(days=1))

    assert kinds("CP-NEVER") == []


def test_a_charger_switched_off_for_maintenance_is_offline_only_past_the_windows_end(
    settings,
):
    settings.OPERATIONS_OFFLINE_ALERT_AFTER = 600
    now = timezone.now()
    site = Site.objects.create(name="Verkstan")
    charge_point = ChargePoint.objects.create(
        charge_point_id="CP-MAINT-OFF",
        site=site,
        registration_status="Accepted",
        is_connected=False,
        disconnected_at=now - timedelta(hours=1),
    )
    window = MaintenanceWindow.objects.create(
        site=site,
        starts_at=now - timedelta(hours=2),
        ends_at=now + timedelta(hours=1),
        reason="Cable replacement",
    )

    tasks.sweep(now=now)  # in the window
    tasks.sweep(now=window.ends_at + timedelta(minutes=9))  # back within the alert time
    assert kinds("CP-MAINT-OFF") == []

    tasks.sweep(now=window.ends_at + timedelta(minutes=11))
    assert kinds("CP-MAINT-OFF") == [("offline", "open")]
    assert charge_point.tickets.get().kind == Ticket.Kind.OFFLINE


def test_a_ticketed_security_event_whose_receiver_was_lost_is_ticketed_by_the_sweep():
    """The event is stored with the charger's answer; the ticket comes from the sweep."""
    handle(  # no on-commit callbacks run: as if the receiver never heard of it
        "CP-SWEEP-SEC",
        "SecurityEventNotification",
        {"type": "MemoryExhaustion", "timestamp": charger_now()},
    )

    assert tasks.sweep()["opened"] == 1
    assert tasks.sweep()["opened"] == 0
    assert kinds("CP-SWEEP-SEC") == [("security_event", "open")]
