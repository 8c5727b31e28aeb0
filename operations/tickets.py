"""The one owner of a ticket's life: open (or join) one per fault, resolve, reopen.

Every source of faults (receivers, the periodic sweep, driver reports, inspections)
goes through `raise_fault`, so severity, due time and the one-open-ticket-per-fault rule
are decided here only. Staff move tickets through `update` (state, assignee, severity),
`comment` and `reopen`; the admin and the API both call these, with the same refusals.

A fault that comes back within OPERATIONS_FLAP_WINDOW of its ticket's resolution reopens
that ticket instead of opening another: a flapping charger keeps one ticket (and one
alert). `ticket_opened` and `ticket_escalated` are sent after commit for the alerts
(operations/receivers.py queues them; operations/alerts.py sends them).
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from chargehub.compiled_queries import CompiledQuery
from operations.models import Ticket, TicketEntry
from stations.models import ChargePoint, Connector, Site
from users.roles import TECHNICIAN

logger = logging.getLogger(__name__)

# sender=Ticket, ticket=...: a ticket was opened (not joined, not reopened by a flap).
ticket_opened = Signal()
# sender=Ticket, ticket=...: its severity was raised.
ticket_escalated = Signal()
# sender=Ticket, ticket=...: it was resolved or closed (by its rule or by staff).
ticket_closed = Signal()
# sender=Ticket, ticket=...: staff assigned it to a technician (ticket.assignee) other
# than themselves.
ticket_assigned = Signal()

# Severities from least to most urgent: raising one is an escalation.
SEVERITY_RANK = {
    Ticket.Severity.MINOR: 0,
    Ticket.Severity.MAJOR: 1,
    Ticket.Severity.CRITICAL: 2,
}

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
        ticket = open_tickets.first() or _reopen_flapping(key, at)
        if ticket is not None:
            return join(ticket, text or title, evidence, at), False
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
        _announce(ticket_opened, ticket)
        return ticket, True
    raise RuntimeError(f"Could not open or join the ticket for {key}")


def open_ticket(
    kind: str, charge_point: ChargePoint | None, connector: Connector | None = None
) -> Ticket | None:
    """The open ticket of this fault, if any (the sweep asks before it raises one)."""
    key = fault_key(kind, charge_point, connector)
    return Ticket.objects.filter(fault_key=key, status__in=Ticket.OPEN_STATUSES).first()


def _reopen_flapping(key: str, at: datetime) -> Ticket | None:
    """The ticket of this fault resolved within OPERATIONS_FLAP_WINDOW, open again."""
    since = at - timedelta(seconds=settings.OPERATIONS_FLAP_WINDOW)
    recent = (
        Ticket.objects.filter(fault_key=key, status=Ticket.Status.RESOLVED, resolved_at__gte=since)
        .order_by("-resolved_at")
        .first()
    )
    if recent is None:
        return None
    try:
        with transaction.atomic():
            moved = Ticket.objects.filter(pk=recent.pk, status=Ticket.Status.RESOLVED).update(
                status=Ticket.Status.OPEN, resolved_at=None, resolution=""
            )
    except IntegrityError:
        return None  # another worker opened a ticket for the fault meanwhile: join it
    if not moved:
        return None
    _add_entry(recent, TicketEntry.Kind.STATUS, _("The fault came back: open again."), None, at)
    return recent


def resolve(ticket: Ticket, reason: str, *, by: Any = None, at: datetime | None = None) -> bool:
    """Resolve an open ticket, saying why; False when it was no longer open."""
    at = at or timezone.now()
    moved = Ticket.objects.filter(pk=ticket.pk, status__in=Ticket.OPEN_STATUSES).update(
        status=Ticket.Status.RESOLVED, resolved_at=at, resolution=reason
    )
    if moved:
        ticket.refresh_from_db()
        _add_entry(ticket, TicketEntry.Kind.STATUS, reason, None, at, author=by)
        _announce(ticket_closed, ticket)
    return bool(moved)


def resolve_fault(
    kind: str,
    charge_point: ChargePoint | None,
    connector: Connector | None,
    reason: str,
    at: datetime | None = None,
) -> Ticket | None:
    """Resolve the open ticket of this fault, if there is one (the charger recovered)."""
    ticket = OPEN_FAULT_TICKET.first(key=fault_key(kind, charge_point, connector))
    if ticket is not None and resolve(ticket, reason, at=at):
        return ticket
    return None


# Asked at every charger's connect and each StatusNotification after a status that is not
# working, nearly always finding none: its SQL built once, not per call (about 1 ms of it;
# docs/performance.md). At most one ticket of a fault is open (Ticket's constraint).
OPEN_FAULT_TICKET = CompiledQuery(
    lambda key: Ticket.objects.filter(fault_key=key, status__in=Ticket.OPEN_STATUSES)
)


class TicketRefused(Exception):
    """A change staff asked for that the workflow does not allow; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# The states staff may move an open ticket to; a resolved or closed one only by `reopen`
# (or a resolved one to closed).
MOVES: dict[str, set[str]] = {
    **{
        state: {*Ticket.OPEN_STATUSES, Ticket.Status.RESOLVED, Ticket.Status.CLOSED} - {state}
        for state in Ticket.OPEN_STATUSES
    },
    Ticket.Status.RESOLVED: {Ticket.Status.CLOSED},
    Ticket.Status.CLOSED: set(),
}


def is_technician(user: Any) -> bool:
    """Whether `user` may be given tickets: active staff in the technician role's group."""
    return bool(
        user is not None
        and user.is_active
        and user.is_staff
        and user.groups.filter(name=TECHNICIAN.name).exists()
    )


def update(
    ticket: Ticket,
    *,
    by: Any,
    status: str | None = None,
    assignee: Any = ...,
    severity: str | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Ticket:
    """Staff's changes to a ticket, checked together before any is made.

    `assignee=None` unassigns, left out changes nothing. Raises TicketRefused with the
    reason when a change is not allowed (a move the workflow lacks, an assignee who is not
    a technician, reopening through here).
    """
    at = at or timezone.now()
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        check_update(ticket, status=status, assignee=assignee, severity=severity)
        lines = []
        escalated = closed = assigned = False
        if assignee is not ... and assignee != ticket.assignee:
            ticket.assignee = assignee
            assigned = assignee is not None and assignee != by  # nobody tells themselves
            lines.append(
                _("Assigned to %(name)s.") % {"name": assignee} if assignee else _("Unassigned.")
            )
        if severity is not None and severity != ticket.severity:
            escalated = SEVERITY_RANK[severity] > SEVERITY_RANK[ticket.severity]
            ticket.severity = severity
            ticket.due_at = due_at(severity, ticket.opened_at)
            if escalated:
                ticket.escalated_at = at
            lines.append(
                _("Severity %(severity)s.") % {"severity": Ticket.Severity(severity).label}
            )
        if status is not None and status != ticket.status:
            closed = ticket.is_open and status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
            ticket.status = status
            if status in (Ticket.Status.RESOLVED, Ticket.Status.CLOSED) and not ticket.resolved_at:
                ticket.resolved_at = at
                ticket.resolution = note or _("Resolved by %(name)s.") % {"name": by}
            lines.append(_("Now %(status)s.") % {"status": Ticket.Status(status).label})
        if not lines:
            return ticket
        ticket.save()
        text = " ".join(str(line) for line in lines)
        _add_entry(ticket, TicketEntry.Kind.STATUS, f"{text} {note}".strip(), None, at, author=by)
    if escalated:
        _announce(ticket_escalated, ticket)
    if closed:
        _announce(ticket_closed, ticket)
    if assigned:
        _announce(ticket_assigned, ticket)
    return ticket


def check_update(
    ticket: Ticket, *, status: str | None = None, assignee: Any = ..., severity: str | None = None
) -> None:
    """Raise TicketRefused when `update` would refuse these changes (forms ask first)."""
    if status is not None and status != ticket.status:
        if status == Ticket.Status.OPEN and not ticket.is_open:
            raise TicketRefused(_("Reopen a resolved or closed ticket with the reopen action."))
        if status not in MOVES[ticket.status]:
            raise TicketRefused(
                _("A ticket that is %(current)s cannot become %(new)s.")
                % {
                    "current": Ticket.Status(ticket.status).label,
                    "new": Ticket.Status(status).label,
                }
            )
    if assignee is not ... and assignee is not None and not is_technician(assignee):
        raise TicketRefused(_("Only a technician can be assigned a ticket."))
    if severity is not None and severity not in Ticket.Severity.values:
        raise TicketRefused(_("Not a severity."))


def reopen(ticket: Ticket, *, by: Any, reason: str = "", at: datetime | None = None) -> Ticket:
    """A resolved or closed ticket open again (staff judged the fault is not gone).

    Refused while another ticket of the same fault is open: the fault has one open ticket.
    """
    at = at or timezone.now()
    if ticket.is_open:
        raise TicketRefused(_("The ticket is open already."))
    if ticket.fault_key:
        other = Ticket.objects.filter(
            fault_key=ticket.fault_key, status__in=Ticket.OPEN_STATUSES
        ).exclude(pk=ticket.pk)
        if (current := other.first()) is not None:
            raise TicketRefused(
                _("Ticket #%(other)s is open for the same fault: carry on there.")
                % {"other": current.pk}
            )
    try:
        with transaction.atomic():
            moved = Ticket.objects.filter(
                pk=ticket.pk, status__in=[Ticket.Status.RESOLVED, Ticket.Status.CLOSED]
            ).update(status=Ticket.Status.OPEN, resolved_at=None, resolution="")
    except IntegrityError:
        raise TicketRefused(_("Another ticket was opened for the same fault meanwhile.")) from None
    if not moved:
        raise TicketRefused(_("The ticket is open already."))
    ticket.refresh_from_db()
    text = _("Reopened.") + (f" {reason}" if reason else "")
    _add_entry(ticket, TicketEntry.Kind.STATUS, text, None, at, author=by)
    return ticket


def comment(ticket: Ticket, text: str, *, by: Any, at: datetime | None = None) -> TicketEntry:
    """A comment by staff on the ticket."""
    text = text.strip()
    if not text:
        raise TicketRefused(_("A comment needs some text."))
    return _add_entry(ticket, TicketEntry.Kind.COMMENT, text, None, at or timezone.now(), by)


def _announce(signal: Signal, ticket: Ticket) -> None:
    transaction.on_commit(lambda: signal.send_robust(sender=Ticket, ticket=ticket))


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
    # Counted only while it is open: one resolved a moment ago keeps its count.
    Ticket.objects.filter(pk=ticket.pk, status__in=Ticket.OPEN_STATUSES).update(
        occurrences=F("occurrences") + 1, last_occurred_at=at
    )
    ticket.refresh_from_db()
    _add_entry(ticket, TicketEntry.Kind.EVIDENCE, text, evidence, at)
    return ticket


# --- Remote repair (operations/repair.py) ----------------------------------------------------


def add_repair_entry(
    ticket: Ticket,
    text: str,
    data: dict[str, Any],
    *,
    by: Any = None,
    at: datetime | None = None,
) -> TicketEntry:
    """A remote repair's step, the charger's answer, or its outcome, on the ticket."""
    return _add_entry(ticket, TicketEntry.Kind.REPAIR, text, data, at or timezone.now(), author=by)
