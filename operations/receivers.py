"""What operations does when stations reports something (stations/signals.py).

Receivers are sent robustly (stations.signals.announce): one that fails is logged and the
charger still gets its answer; the periodic sweep (operations/tasks.py) re-derives what a
lost event would have done. They run in the charger's request, after commit: each does a
few queries through operations/faults.py and queues anything slow (alert emails).
"""

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.dispatch import receiver
from django.utils import timezone

from notifications import webhooks
from operations import alerts, emergency, faults, tasks
from operations.models import Ticket
from operations.tickets import ticket_assigned, ticket_closed, ticket_escalated, ticket_opened
from stations.models import (
    ChargePoint,
    ChargerCommand,
    ChargingSession,
    Connector,
    MeterSample,
    SecurityEvent,
    Site,
)
from stations.signals import (
    charge_point_booted,
    charge_point_connected,
    command_finished,
    meter_values_received,
    security_event_received,
    session_ended,
    site_over_limit,
    status_notification_received,
)

logger = logging.getLogger(__name__)


# --- Faults become tickets -----------------------------------------------------------------


@receiver(status_notification_received, sender=Connector, dispatch_uid="operations.status")
def status_received(
    sender: type,
    connector: Connector,
    event: Any,
    previous_status: str | None = None,
    **kwargs: Any,
) -> None:
    faults.status_received(connector, event, previous_status)


@receiver(charge_point_connected, sender=ChargePoint, dispatch_uid="operations.online")
def charger_connected(sender: type, charge_point: ChargePoint, at: datetime, **kwargs: Any) -> None:
    faults.charger_online(charge_point, at)


@receiver(charge_point_booted, sender=ChargePoint, dispatch_uid="operations.booted")
def charger_booted(
    sender: type, charge_point: ChargePoint, previous_boot_at: datetime | None, **kwargs: Any
) -> None:
    faults.charger_booted(charge_point, timezone.now(), previous_boot_at)


@receiver(security_event_received, sender=SecurityEvent, dispatch_uid="operations.security")
def security_event(sender: type, event: SecurityEvent, **kwargs: Any) -> None:
    faults.security_event(event)


@receiver(site_over_limit, sender=Site, dispatch_uid="operations.site_over_limit")
def site_over_its_limit(
    sender: type, site: Site, load: dict[int, Decimal], limit_amps: Decimal, **kwargs: Any
) -> None:
    faults.site_over_limit(site, load, limit_amps)


@receiver(command_finished, sender=ChargerCommand, dispatch_uid="operations.command")
def command_done(sender: type, command: ChargerCommand, **kwargs: Any) -> None:
    faults.command_finished(command)


@receiver(meter_values_received, sender=ChargingSession, dispatch_uid="operations.meter_values")
def meter_values(
    sender: type,
    session: ChargingSession,
    samples: list[MeterSample] | None = None,
    **kwargs: Any,
) -> None:
    # Sent every few seconds per session: no query while it keeps sending (values_came).
    faults.values_came(session, samples)


@receiver(session_ended, sender=ChargingSession, dispatch_uid="operations.session_ended")
def session_over(sender: type, session: ChargingSession, **kwargs: Any) -> None:
    faults.session_ended(session)


# --- Alerts -----------------------------------------------------------------------------------


@receiver(ticket_opened, sender=Ticket, dispatch_uid="operations.alert_opened")
def ticket_was_opened(sender: type, ticket: Ticket, **kwargs: Any) -> None:
    _queue_alert(ticket, alerts.OPENED)


@receiver(ticket_assigned, sender=Ticket, dispatch_uid="operations.alert_assigned")
def ticket_was_assigned(sender: type, ticket: Ticket, **kwargs: Any) -> None:
    _queue_alert(ticket, alerts.ASSIGNED)


@receiver(ticket_escalated, sender=Ticket, dispatch_uid="operations.alert_escalated")
def ticket_was_escalated(sender: type, ticket: Ticket, **kwargs: Any) -> None:
    _queue_alert(ticket, alerts.ESCALATED)


def _queue_alert(ticket: Ticket, reason: str) -> None:
    try:
        tasks.send_alert.delay(ticket.pk, reason)
    except Exception:
        # A broker that is down must not fail the charger's message: the sweep sends the
        # alerts of open tickets that have none yet.
        logger.exception("Could not queue the %s alert of ticket %s", reason, ticket.pk)


# --- Emergency stop (operations/emergency.py) ------------------------------------------------


@receiver(command_finished, dispatch_uid="operations.emergency.record_boot_answer")
def emergency_stop_told_after_boot(sender: type, command: ChargerCommand, **kwargs: Any) -> None:
    """A charger back on a stopped site answered the stop (or the release it missed)."""
    emergency.record_boot_answer(command)


# Integrators hear tickets open and close (notifications/webhooks.py).
@receiver(ticket_opened, sender=Ticket, dispatch_uid="operations.webhook_ticket_opened")
def ticket_opened_webhook(sender: type, ticket: Ticket, **kwargs: Any) -> None:
    _publish_ticket(webhooks.TICKET_OPENED, ticket)


@receiver(ticket_closed, sender=Ticket, dispatch_uid="operations.webhook_ticket_closed")
def ticket_closed_webhook(sender: type, ticket: Ticket, **kwargs: Any) -> None:
    _publish_ticket(webhooks.TICKET_CLOSED, ticket)


def _publish_ticket(event: str, ticket: Ticket) -> None:
    try:
        if webhooks.any_listening(event):
            webhooks.publish(event, webhooks.ticket_data(ticket))
    except Exception:
        logger.exception("Webhook event %s of ticket %s not queued", event, ticket.pk)
