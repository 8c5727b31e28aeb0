"""The one owner of a ticket's life: open (or join) one per fault, resolve, reopen.

Every source of faults (receivers, the periodic sweep, driver reports, inspections)
goes through `raise_fault`, so severity, due time and the one-open-ticket-per-fault rule
are decided here only.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from operations.models import Ticket, TicketEntry
from stations.models import ChargePoint, Connector, Site

logger = logging.getLogger(__name__)

# A charger that can give this much power (kW) on a connector is a fast charger: its
# faults strand drivers on a journey, so they rank higher.
FAST_CHARGER_KW = Decimal("50")

# Kinds that are critical whatever the charger: someone may be tampering with it.
ALWAYS_CRITICAL = {Ticket.Kind.SECURITY_EVENT}
# Kinds that take a charger out of service: major, critical on a fast charger.
OUT_OF_SERVICE = {Ticket.Kind.FAULTED, Ticket.Kind.OFFLINE, Ticket.Kind.DRIVER_REPORT}


def is_fast(charge_point: ChargePoint | None) -> bool:
    if charge_point is None:
        return False
    fastest = charge_point.connectors.aggregate(kw=Max("max_power_kw"))["kw"]
    return fastest is not None and fastest >= FAST_CHARGER_KW


def severity_for(kind: str, charge_point: ChargePoint | None) -> str:
    """Severity from the kind of fault and the charger's power."""
    if kind in ALWAYS_CRITICAL:
        return Ticket.Severity.CRITICAL
    if kind in OUT_OF_SERVICE:
        return Ticket.Severity.CRITICAL if is_fast(charge_point) else Ticket.Severity.MAJOR
    if kind == Ticket.Kind.INSPECTION or kind == Ticket.Kind.OTHER:
        return Ticket.Severity.MINOR
    return Ticket.Severity.MAJOR


def due_at(severity: str, opened_at: datetime) -> datetime:
    """Opening time plus OPERATIONS_SLA_HOURS of the severity."""
    return opened_at + timedelta(hours=settings.OPERATIONS_SLA_HOURS[severity])


def fault_key(kind: str, charge_point: ChargePoint | None, connector: Connector | None) -> str:
    cp = charge_point.charge_point_id if charge_point else ""
    return f"{kind}:{cp}:{connector.connector_id if connector else ''}"


def raise_fault(
    kind: str,
    *,
    title: str,
    charge_point: ChargePoint | None = None,
    connector: Connector | None = None,
    site: Site | None = None,
    evidence: dict[str, Any] | None = None,
    text: str = "",
    at: datetime | None = None,
    key: str = "",
    checklist: dict[str, Any] | None = None,
) -> tuple[Ticket, bool]:
    """The open ticket for this fault, created if there is none; (ticket, created).

    The same fault while its ticket is open adds its evidence and raises `occurrences`
    instead: the unique constraint on open fault keys makes this hold across workers.
    `key` names a fault that kind, charger and connector do not (an inspection schedule's);
    `checklist` is a new ticket's (an inspection's items, operations/inspections.py).
    """
    at = at or timezone.now()
    key = key or fault_key(kind, charge_point, connector)
    site = site or (charge_point.site if charge_point else None)
    open_tickets = Ticket.objects.filter(fault_key=key, status__in=Ticket.OPEN_STATUSES)
    for _attempt in range(2):
        ticket = open_tickets.first()
        if ticket is not None:
            open_tickets.filter(pk=ticket.pk).update(
                occurrences=F("occurrences") + 1, last_occurred_at=at
            )
            ticket.refresh_from_db()
            _add_entry(ticket, TicketEntry.Kind.EVIDENCE, text or title, evidence, at)
            return ticket, False
        severity = severity_for(kind, charge_point)
        try:
            with transaction.atomic():
                ticket = Ticket.objects.create(
                    kind=kind,
                    severity=severity,
                    title=title,
                    site=site,
                    charge_point=charge_point,
                    connector=connector,
                    fault_key=key,
                    checklist=checklist or {},
                    opened_at=at,
                    last_occurred_at=at,
                    due_at=due_at(severity, at),
                )
        except IntegrityError:
            continue  # another worker opened it a moment ago: join that one
        _add_entry(ticket, TicketEntry.Kind.EVIDENCE, text or title, evidence, at)
        return ticket, True
    raise RuntimeError(f"Could not open or join the ticket for {key}")


def resolve(ticket: Ticket, reason: str, *, by: Any = None, at: datetime | None = None) -> bool:
    """Resolve an open ticket, saying why; False when it was no longer open."""
    at = at or timezone.now()
    moved = Ticket.objects.filter(pk=ticket.pk, status__in=Ticket.OPEN_STATUSES).update(
        status=Ticket.Status.RESOLVED, resolved_at=at, resolution=reason
    )
    if moved:
        ticket.refresh_from_db()
        _add_entry(ticket, TicketEntry.Kind.STATUS, reason, None, at, author=by)
    return bool(moved)


def resolve_fault(
    kind: str,
    charge_point: ChargePoint | None,
    connector: Connector | None,
    reason: str,
    at: datetime | None = None,
) -> Ticket | None:
    """Resolve the open ticket of this fault, if there is one (the charger recovered)."""
    key = fault_key(kind, charge_point, connector)
    ticket = Ticket.objects.filter(fault_key=key, status__in=Ticket.OPEN_STATUSES).first()
    if ticket is not None and resolve(ticket, reason, at=at):
        return ticket
    return None


def _add_entry(
    ticket: Ticket,
    kind: str,
    text: str,
    data: dict[str, Any] | None,
    at: datetime,
    author: Any = None,
) -> TicketEntry:
    return TicketEntry.objects.create(
        ticket=ticket, kind=kind, text=text, data=data or {}, created_at=at, author=author
    )


# --- Joining a ticket that is already open (driver reports) ------------------------------


def open_ticket_on(charge_point: ChargePoint, connector: Connector | None) -> Ticket | None:
    """The open ticket a new report about this charger belongs to, if any: one of the
    connector's, else one of the charger as a whole; with no connector named, any of the
    charger's. The oldest first: it holds the most evidence."""
    tickets = Ticket.objects.filter(
        charge_point=charge_point, status__in=Ticket.OPEN_STATUSES
    ).order_by("opened_at", "id")
    if connector is None:
        return tickets.first()
    return (
        tickets.filter(connector=connector).first()
        or tickets.filter(connector__isnull=True).first()
    )


def join(
    ticket: Ticket,
    text: str,
    evidence: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Ticket:
    """Add evidence to an open ticket and count it as one more occurrence (as the same
    fault raised again does)."""
    at = at or timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(
        occurrences=F("occurrences") + 1, last_occurred_at=at
    )
    ticket.refresh_from_db()
    _add_entry(ticket, TicketEntry.Kind.EVIDENCE, text, evidence, at)
    return ticket
