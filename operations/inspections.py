"""Inspections: each site's schedule (every N months, a checklist staff edit) opens an
inspection ticket when due; staff complete the checklist on it, which resolves it.

`open_due()` is the beat task's (operations/tasks.py, hourly). It is idempotent and safe
with two workers: moving a schedule's `next_due` is a conditional UPDATE (from the date
it read), done in the same transaction as opening the ticket, so a due date opens one
ticket; an inspection still open when the next falls due is joined, not opened twice
(one open ticket per schedule, operations/tickets.py).
"""

import calendar
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from operations import tickets
from operations.models import InspectionSchedule, Ticket, TicketEntry
from stations.models import ChargePoint

OK = "ok"
NOT_OK = "not_ok"


class InspectionError(Exception):
    """A checklist that cannot be completed as given; the message is for staff."""


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the last day of that month when it is shorter
    (31 January + 1 month is 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def following_due(schedule: InspectionSchedule, today: date) -> date:
    """The schedule's next due date after today: N months on, and N more while that is
    still past (a schedule that was off for a while opens one ticket, not one per period)."""
    periods = 1
    while (following := add_months(schedule.next_due, periods * schedule.every_months)) <= today:
        periods += 1
    return following


FAULT_KEY_PREFIX = f"{Ticket.Kind.INSPECTION}:schedule:"


def fault_key(schedule: InspectionSchedule) -> str:
    """One open inspection ticket per schedule (operations/tickets.py)."""
    return f"{FAULT_KEY_PREFIX}{schedule.pk}"


def with_open_inspection(schedules: QuerySet[InspectionSchedule]) -> QuerySet[InspectionSchedule]:
    """`schedules` with `open_inspection_id`: its open inspection ticket, or None."""
    key = Concat(Value(FAULT_KEY_PREFIX), Cast(OuterRef("pk"), CharField()))
    tickets_open = Ticket.objects.filter(fault_key=key, status__in=Ticket.OPEN_STATUSES)
    return schedules.annotate(open_inspection_id=Subquery(tickets_open.values("pk")[:1]))


def open_due(today: date | None = None) -> list[Ticket]:
    """Open (or join) the inspection ticket of every active schedule due by `today`
    (TIME_ZONE's date) and move its next due date on; the tickets opened or joined."""
    today = today or timezone.localdate()
    raised = []
    due = InspectionSchedule.objects.filter(active=True, next_due__lte=today).select_related("site")
    for schedule in due:
        with transaction.atomic():
            moved = InspectionSchedule.objects.filter(
                pk=schedule.pk, active=True, next_due=schedule.next_due
            ).update(next_due=following_due(schedule, today))
            if not moved:
                continue  # another worker took this due date
            ticket, _created = tickets.raise_fault(
                Ticket.Kind.INSPECTION,
                title=_("Inspection of %(site)s due %(date)s")
                % {"site": schedule.site, "date": schedule.next_due.isoformat()},
                site=schedule.site,
                key=fault_key(schedule),
                evidence={
                    "schedule": schedule.pk,
                    "due": schedule.next_due.isoformat(),
                    "checklist": list(schedule.checklist),
                },
                checklist={item: {"ok": None, "note": ""} for item in schedule.checklist},
            )
        raised.append(ticket)
    return raised


def open_for_charger(
    charge_point: ChargePoint, *, reason: str, evidence: dict[str, Any]
) -> tuple[Ticket, bool]:
    """An inspection of one charger that staff ask for (predictive maintenance's "create
    inspection ticket"): opened, or joined while one is open for it; (ticket, created).
    Its checklist is the site's active schedule's, so it is completed like any other."""
    schedule = InspectionSchedule.objects.filter(site=charge_point.site_id, active=True).first()
    checklist = list(schedule.checklist) if schedule else []
    return tickets.raise_fault(
        Ticket.Kind.INSPECTION,
        title=_("Inspection of %(charger)s") % {"charger": charge_point.charge_point_id},
        charge_point=charge_point,
        text=reason,
        evidence=evidence,
        checklist={item: {"ok": None, "note": ""} for item in checklist},
    )


def is_open_inspection(ticket: Ticket) -> bool:
    return ticket.kind == Ticket.Kind.INSPECTION and ticket.is_open


def complete(ticket: Ticket, results: dict[str, dict[str, Any]], *, by: Any = None) -> Ticket:
    """Keep the completed checklist on the ticket ({item: {"ok": bool, "note": str}}, every
    item of the ticket's checklist) and resolve it, saying how many items were fine.

    Raises InspectionError when the ticket is no open inspection (another member of
    staff completed it first) or the results do not answer its items.
    """
    if ticket.kind != Ticket.Kind.INSPECTION:
        raise InspectionError(_("This ticket is not an inspection."))
    if set(results) != set(ticket.checklist):
        raise InspectionError(_("Answer every item of the checklist, and only those."))
    checked = {
        item: {"ok": bool(result["ok"]), "note": str(result.get("note", "")).strip()}
        for item, result in results.items()
    }
    failed = [item for item, result in checked.items() if not result["ok"]]
    reason = _("Inspection done: %(ok)d of %(total)d items OK.") % {
        "ok": len(checked) - len(failed),
        "total": len(checked),
    }
    if failed:
        reason += " " + _("Not OK: %(items)s.") % {"items": ", ".join(failed)}
    with transaction.atomic():
        if not tickets.resolve(ticket, reason, by=by):
            raise InspectionError(_("This inspection is no longer open."))
        Ticket.objects.filter(pk=ticket.pk).update(checklist=checked)
        TicketEntry.objects.create(
            ticket=ticket,
            kind=TicketEntry.Kind.COMMENT,
            author=by if getattr(by, "is_authenticated", False) else None,
            text=_("Checklist completed."),
            data={"checklist": checked},
        )
    ticket.refresh_from_db()
    return ticket
