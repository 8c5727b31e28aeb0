"""First-line remote repair of a ticket's charger: the standard sequence a technician would
run by hand before anyone drives out.

1. TriggerMessage StatusNotification (of the ticket's connector): the charger says again
   what it is doing; a fault it already got over shows up as recovered.
2. Reset Soft: restart its software.
3. Reset Hard: reboot it.
4. UnlockConnector: only for a connector's ticket (a stuck cable keeps it out of order).

After each step it waits up to OPERATIONS_REPAIR_WAIT seconds, reading the database, for
the fault to be over, and stops there. Every step, the charger's answer and the outcome
are entries of the ticket (TicketEntry kind "repair"). Runs in a Celery task
(operations/tasks.py `remote_repair`): the steps and their waits take minutes.

A Reset stops every session on the charger (OCPP 1.6 §5.14): while a driver is charging
there the resets are skipped, and said so on the ticket.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from operations import faults, tickets
from operations.models import Ticket, TicketEntry
from stations import operations
from stations.models import ChargePoint, ChargingSession, Connector
from stations.ocpp.commands import CommandError

SOURCE = "repair"
# Answers that mean the charger does as asked (OCPP 1.6 TriggerMessageStatus,
# ResetStatus, UnlockStatus): only then is there something to wait for.
DONE = {"Accepted", "Unlocked"}


# Said when a repair has been started (the admin's message, the API's answer).
STARTED = _("Remote repair started: its steps appear on the ticket as they run.")


class RepairRefused(Exception):
    """This ticket cannot be repaired remotely (no charger, or a repair is running)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Step:
    name: str
    label: Promise
    # (charge point id, connector id or None, issued by) -> the call_result
    send: Callable[[str, int | None, Any], Any]
    # A Reset stops every session on the charger.
    stops_sessions: bool = False


STEPS = {
    "trigger_status": Step(
        "trigger_status",
        gettext_lazy("TriggerMessage StatusNotification"),
        lambda cp, connector, by: operations.trigger_message(
            cp, "StatusNotification", connector, issued_by=by, source=SOURCE
        ),
    ),
    "soft_reset": Step(
        "soft_reset",
        gettext_lazy("Soft reset"),
        lambda cp, connector, by: operations.reset(cp, "Soft", issued_by=by, source=SOURCE),
        stops_sessions=True,
    ),
    "hard_reset": Step(
        "hard_reset",
        gettext_lazy("Hard reset"),
        lambda cp, connector, by: operations.reset(cp, "Hard", issued_by=by, source=SOURCE),
        stops_sessions=True,
    ),
    "unlock": Step(
        "unlock",
        gettext_lazy("Unlock connector"),
        lambda cp, connector, by: operations.unlock_connector(
            cp, connector, issued_by=by, source=SOURCE
        ),
    ),
}


def _connector_id(ticket: Ticket) -> int | None:
    """The ticket's connector, unless it is connector 0 (the charger as a whole)."""
    if ticket.connector_id is None:
        return None
    number = Connector.objects.values_list("connector_id", flat=True).get(pk=ticket.connector_id)
    return number or None


def steps_for(ticket: Ticket) -> list[Step]:
    """The standard sequence for this ticket: UnlockConnector only for a connector's."""
    names = ["trigger_status", "soft_reset", "hard_reset"]
    if _connector_id(ticket) is not None:
        names.append("unlock")
    return [STEPS[name] for name in names]


def is_recovered(ticket: Ticket) -> bool:
    """Whether the ticket's fault is over: resolved already (operations/faults.py heard
    the charger), or the current state says so by faults.py's own rules (its receivers run
    in the charger's process a moment later): the connector in a working status
    (faults.WORKING) on a connected charger; for an offline ticket, the charger connected.
    Any other kind of ticket (a security event, repeated boots) is over only when
    resolved: a reset is tried, then a person looks.
    """
    ticket.refresh_from_db(fields=["status"])
    if not ticket.is_open:
        return True
    charge_point = ChargePoint.objects.only("is_connected").get(pk=ticket.charge_point_id)
    if not charge_point.is_connected:
        return False
    if ticket.kind == Ticket.Kind.OFFLINE:
        return True
    if ticket.kind == Ticket.Kind.FAULTED and ticket.connector_id is not None:
        status = Connector.objects.values_list("status", flat=True).get(pk=ticket.connector_id)
        return status in faults.WORKING
    return False


def wait_for_recovery(ticket: Ticket, seconds: float) -> bool:
    """Poll the database until the fault is over or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    poll = min(1.0, max(seconds / 20, 0.05))
    while True:
        if is_recovered(ticket):
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(poll, left))


def is_running(ticket: Ticket, now: datetime | None = None) -> bool:
    """A repair of this ticket started and has not finished (and could still be running:
    one that died is forgotten once the longest sequence would have ended)."""
    started = (
        TicketEntry.objects.filter(
            ticket=ticket, kind=TicketEntry.Kind.REPAIR, data__phase="started"
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if started is None:
        return False
    longest = len(STEPS) * (settings.OPERATIONS_REPAIR_WAIT + settings.OCPP_COMMAND_TIMEOUT + 10)
    if ((now or timezone.now()) - started.created_at).total_seconds() > longest:
        return False
    return not TicketEntry.objects.filter(
        ticket=ticket, kind=TicketEntry.Kind.REPAIR, data__phase="finished", id__gt=started.id
    ).exists()


def check(ticket: Ticket) -> None:
    """Raise RepairRefused when this ticket cannot be repaired remotely now."""
    if ticket.charge_point_id is None:
        raise RepairRefused(_("This ticket is about no charger: there is nothing to reset."))
    if not ticket.is_open:
        raise RepairRefused(_("This ticket is resolved already."))
    if is_running(ticket):
        raise RepairRefused(_("A remote repair of this ticket is running already."))


def _answer(answer: Any) -> dict[str, Any]:
    return asdict(answer) if is_dataclass(answer) and not isinstance(answer, type) else {}


@dataclass(frozen=True)
class Outcome:
    recovered: bool
    # The steps sent, in order; the last one is the one that worked when recovered.
    steps: list[str]


def run(ticket: Ticket, *, by: Any = None) -> Outcome:
    """Run the standard sequence on the ticket's charger, stopping once the fault is over.

    Each step, its answer and the end are recorded on the ticket; recovered, the ticket is
    resolved (unless faults.py did it already). Raises RepairRefused before sending
    anything when the ticket cannot be repaired (`check`).
    """
    check(ticket)
    charge_point = ChargePoint.objects.get(pk=ticket.charge_point_id)
    connector_id = _connector_id(ticket)
    steps = steps_for(ticket)
    tickets.add_repair_entry(
        ticket,
        _("Remote repair started: %(steps)s.") % {"steps": ", ".join(str(s.label) for s in steps)},
        {"phase": "started", "steps": [s.name for s in steps]},
        by=by,
    )
    sent: list[str] = []
    for step in steps:
        if step.stops_sessions and _has_active_session(charge_point):
            tickets.add_repair_entry(
                ticket,
                _("%(step)s skipped: a driver is charging at this charger.") % {"step": step.label},
                {"phase": "step", "step": step.name, "skipped": "active session"},
                by=by,
            )
            continue
        sent.append(step.name)
        try:
            answer = step.send(charge_point.charge_point_id, connector_id, by)
        except CommandError as error:
            text = operations.command_failure(error).message
            data = {"phase": "step", "step": step.name, "error": str(error)}
            status = None
        else:
            data = {"phase": "step", "step": step.name, "answer": _answer(answer)}
            status = getattr(answer, "status", None)
            text = status or _("answered")
        tickets.add_repair_entry(ticket, f"{step.label}: {text}", data, by=by)
        # Nothing was done unless the charger said so: then just look once.
        wait = settings.OPERATIONS_REPAIR_WAIT if status in DONE else 0
        if wait_for_recovery(ticket, wait):
            reason = _("Recovered after remote repair: %(step)s.") % {"step": step.label}
            tickets.add_repair_entry(
                ticket, reason, {"phase": "finished", "recovered": True, "step": step.name}, by=by
            )
            tickets.resolve(ticket, reason, by=by)
            return Outcome(True, sent)
    tickets.add_repair_entry(
        ticket,
        _("Not recovered after the remote repair: someone needs to go and look."),
        {"phase": "finished", "recovered": False},
        by=by,
    )
    return Outcome(False, sent)


def _has_active_session(charge_point: ChargePoint) -> bool:
    return ChargingSession.objects.filter(
        charge_point=charge_point, status=ChargingSession.Status.ACTIVE
    ).exists()
