"""A SessionCharge's status (a session's, or a booking's no-show fee): the one place
that moves it.

A charge is created in its first status by billing/settlement.py's new_charge (called
by freeze_price for a session and by billing/no_show.py for a booking's no-show fee);
from then on only the functions here change it, each allowing only the moves below:

    pending, failed -> paid        mark_paid (wallet debited, card charged)
    pending, failed -> failed      mark_failed (card declined: retried later)
    pending -> failed              give_up (nothing can be collected: staff decide)
    to_invoice -> invoiced         mark_invoiced (on the month's invoice)
    pending -> paid, failed or nothing_due     settle_guest (a guest's card captured)

Each move is one conditional UPDATE (`WHERE pk = ... AND status IN (allowed)`): of two
workers moving the same charge at once, the database lets one through and the other
gets IllegalTransition, whatever either of them read before. paid, invoiced and
nothing_due are final.
"""

from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Invoice, SessionCharge
from stations.models import ChargingSession

Status = SessionCharge.Status
FINAL = (Status.PAID, Status.INVOICED, Status.NOTHING_DUE)


class IllegalTransition(RuntimeError):
    """A charge asked to move from a status that does not allow it (or that another
    worker has just left); nothing was changed."""

    def __init__(self, charge: SessionCharge, to: str) -> None:
        current = SessionCharge.objects.filter(pk=charge.pk).values_list("status", flat=True)
        status = next(iter(current), None)
        super().__init__(
            _("The charge of %(owner)s is %(status)s: it cannot become %(to)s.")
            % {
                "owner": charge.owner,
                "status": Status(status).label if status else _("deleted"),
                "to": to,
            }
        )


def mark_paid(charge: SessionCharge, reference: str) -> None:
    """The money is in: the wallet was debited, or the card charged (`reference`)."""
    _move(
        charge,
        [Status.PENDING, Status.FAILED],
        status=Status.PAID,
        paid_at=timezone.now(),
        payment_reference=reference,
        next_attempt_at=None,
    )


def mark_failed(charge: SessionCharge, error: str) -> None:
    """A card charge was declined: counted, and the next attempt scheduled after
    BILLING_PAYMENT_RETRY_HOURS; after the last one it stays failed, for staff and the
    driver to settle. Failures count towards blocking the payer (billing/standing.py)."""
    attempts = charge.failed_attempts + 1
    retries = settings.BILLING_PAYMENT_RETRY_HOURS
    next_attempt_at = None
    if attempts <= len(retries):
        next_attempt_at = timezone.now() + timedelta(hours=retries[attempts - 1])
    # The attempt read is part of the condition: two workers failing the same attempt
    # count it once.
    _move(
        charge,
        [Status.PENDING, Status.FAILED],
        also={"failed_attempts": charge.failed_attempts},
        status=Status.FAILED,
        failed_attempts=F("failed_attempts") + 1,
        last_error=error[:255],
        next_attempt_at=next_attempt_at,
    )


def give_up(charge: SessionCharge, error: str) -> None:
    """Nothing can be collected (a guest's card that does not cover the session):
    failed, with no further attempt."""
    _move(
        charge, [Status.PENDING], status=Status.FAILED, last_error=error[:255], next_attempt_at=None
    )


def note_error(charge: SessionCharge, error: str) -> bool:
    """Record why collecting did not work this time, while the charge is still pending
    (the periodic settlement tries again); False when it is no longer pending."""
    updated = SessionCharge.objects.filter(pk=charge.pk, status=Status.PENDING).update(
        last_error=error[:255]
    )
    return bool(updated)


def mark_invoiced(charges: Iterable[SessionCharge], invoice: Invoice) -> None:
    """The charges are on `invoice`: all of them move, or none (the caller's transaction
    rolls back on IllegalTransition)."""
    charges = list(charges)
    moved = SessionCharge.objects.filter(
        pk__in=[charge.pk for charge in charges], status=Status.TO_INVOICE
    ).update(status=Status.INVOICED, document=invoice)
    if moved != len(charges):
        stuck = next(
            charge
            for charge in charges
            if not SessionCharge.objects.filter(pk=charge.pk, document=invoice).exists()
        )
        raise IllegalTransition(stuck, Status.INVOICED.label)


def settle_guest(
    charge: SessionCharge, intent_id: str, captured: Decimal, shortfall_note: str
) -> None:
    """A guest's card was captured for `captured` (billing/guest.py): paid; nothing
    captured is nothing due, unless a price could not be collected (`shortfall_note`),
    which leaves it failed for staff."""
    if captured > 0:
        status = Status.PAID
    elif shortfall_note:
        status = Status.FAILED
    else:
        status = Status.NOTHING_DUE
    _move(
        charge,
        [Status.PENDING],
        status=status,
        method=SessionCharge.Method.GUEST,
        paid_at=timezone.now() if captured > 0 else None,
        payment_reference=intent_id,
        last_error=shortfall_note[:255],
        next_attempt_at=None,
    )


def _move(
    charge: SessionCharge,
    allowed: list[str],
    *,
    also: dict[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Set `fields` if the charge's status is still one of `allowed` (and the `also`
    columns still hold what was read); else IllegalTransition. `charge` is refreshed."""
    moved = SessionCharge.objects.filter(pk=charge.pk, status__in=allowed, **(also or {})).update(
        **fields
    )
    if not moved:
        raise IllegalTransition(charge, Status(fields["status"]).label)
    charge.refresh_from_db()


def samples_still_needed(sessions: QuerySet[ChargingSession]) -> QuerySet[ChargingSession]:
    """A METER_SAMPLE_HOLDS function (stations/retention.py): the sessions whose meter
    samples billing may still need, those not priced yet or whose charge is not final."""
    return sessions.exclude(charge__status__in=FINAL)
