"""Celery tasks of operations: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from operations import alerts, faults, figures, inspections, maintenance, repair, support, uptime
from operations.models import Ticket
from users.models import User

logger = logging.getLogger(__name__)


# --- Uptime (operations/figures.py) -------------------------------------------------------


@shared_task
def refresh_recent_uptime() -> int:
    """This month's and last month's uptime summary, so pages are minutes behind at most."""
    now = timezone.now()
    stored = figures.refresh(uptime.months_between(now - timedelta(days=31), now), now=now)
    figures.warm_network_report()
    logger.info("refresh_recent_uptime: %d port-months", stored)
    return stored


@shared_task
def refresh_uptime_year() -> int:
    """The last 12 months again: maintenance windows or exclusions entered late, history
    that arrived late (a charger's queued StatusNotifications) land in the figures."""
    now = timezone.now()
    stored = figures.refresh(uptime.months_between(now - timedelta(days=366), now), now=now)
    figures.warm_network_report()
    logger.info("refresh_uptime_year: %d port-months", stored)
    return stored


# --- Maintenance windows and inspections (operations/maintenance.py, inspections.py) ---


@shared_task
def apply_maintenance_windows() -> dict[str, int]:
    done = maintenance.run()
    logger.info(
        "apply_maintenance_windows: %d window(s) applied, %d released, %d caught up",
        len(done.applied),
        len(done.released),
        len(done.resent),
    )
    return {
        "applied": len(done.applied),
        "released": len(done.released),
        "resent": len(done.resent),
    }


@shared_task
def open_due_inspections() -> int:
    raised = inspections.open_due()
    logger.info("open_due_inspections: %d inspection ticket(s) opened or joined", len(raised))
    return len(raised)


# --- Driver support (operations/support.py) -----------------------------------------------


# Emailed at most once (emailed_at, the outbox key); the outbox tries a failed delivery
# again (notifications/outbox.py), so this task does not.
@shared_task
def email_support_answer(message_id: int) -> bool:
    return support.email_answer(message_id) is None


# --- Remote repair (operations/repair.py) ----------------------------------------------------


@shared_task
def remote_repair(ticket_id: int, user_id: int | None = None) -> bool | None:
    """Run the standard repair sequence on a ticket's charger; whether it recovered
    (None: the ticket is gone, or cannot be repaired now, e.g. resolved meanwhile)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return None
    user = User.objects.filter(pk=user_id).first() if user_id else None
    try:
        outcome = repair.run(ticket, by=user)
    except repair.RepairRefused as refused:
        logger.info("remote_repair of ticket %s refused: %s", ticket_id, refused.message)
        return None
    return outcome.recovered


def repair_soon(ticket: Ticket, by: User) -> None:
    """Start the remote repair of a ticket once the request commits (from the admin or
    the API); raises repair.RepairRefused when it cannot be repaired now."""
    repair.check(ticket)
    ticket_id, user_id = ticket.pk, by.pk
    transaction.on_commit(lambda: remote_repair.delay(ticket_id, user_id))


# --- Tickets and alerts (faults.py, alerts.py) ------------------------------------------------


@shared_task
def send_alert(ticket_id: int, reason: str) -> bool:
    return alerts.alert(ticket_id, reason) is not None


@shared_task
def sweep(now: datetime | None = None) -> dict[str, int]:
    """Tickets from the current state (faults.sweep), then the alerts they lack: opened
    tickets whose alert was lost, overdue ones not yet told."""
    now = now or timezone.now()
    counts = faults.sweep(now)
    open_tickets = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES)
    for pk in open_tickets.filter(alerted_at__isnull=True).values_list("pk", flat=True):
        alerts.alert(pk, alerts.OPENED, at=now)
    overdue = open_tickets.filter(due_at__lt=now, overdue_alerted_at__isnull=True)
    for pk in overdue.values_list("pk", flat=True):
        alerts.alert(pk, alerts.OVERDUE, at=now)
    logger.info("operations sweep: %(opened)d ticket(s) opened, %(resolved)d resolved", counts)
    return counts


@shared_task
def send_alert_digests() -> int:
    sent = alerts.send_digests()
    logger.info("send_alert_digests: %d digest(s) sent", sent)
    return sent
