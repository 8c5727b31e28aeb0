"""Settling a finished charging session: freeze its price, then collect the money.

`settle_session` runs in a Celery task when stations reports a session ended
(billing/receivers.py; one task per batch of sessions, billing/settlement_batches.py),
and again from the periodic safety net for any session that was missed (a lost task,
a worker that died). It is safe to run any number of times:

1. The price is computed once, by billing/pricing.py under the tariff that applied when
   the session started, and frozen in a SessionCharge (one per session). A tariff
   edited later changes nothing already priced. A StopTransaction that arrives after
   a rule closed the session (stations.ocpp.v16) does not re-price it.
2. The money is collected by the payer's method (billing/accounts.py), or by the one
   the driver chose for this session when starting it (billing/payment_choice.py):
   - wallet: debited once, under the session's reference, even below zero (the energy
     was delivered); a receipt is issued.
   - card: charged off-session once per attempt (the attempt number is part of the
     idempotency key, so a retried task never charges twice); a decline is retried
     after BILLING_PAYMENT_RETRY_HOURS, the driver is told by email, and failures
     count towards blocking their tokens (billing/standing.py). Amounts below
     Stripe's minimum charge go on the monthly invoice instead of being lost.
   - monthly invoice: the session waits for the month's invoice (billing/invoicing.py).
   - guest at the charger: the pre-authorised card is captured (billing/guest.py).
   - nothing due: no tariff applies, the session cost nothing, or nobody is known to
     bill (a tag without an owner) — kept with the reason, for staff to see.
   Each change of the charge's status after it is priced is made by billing/charges.py.

A booking's no-show fee is frozen by billing/no_show.py and then collected here the
same way (`new_charge`, `collect`): wallet, card (with its retries) or the monthly
invoice, and a receipt once paid.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing import (
    accounts,
    charges,
    documents,
    guest,
    invoicing,
    payment_choice,
    payments,
    signals,
    standing,
    tariffs,
    wallet,
)
from billing.models import BillingAccount, GuestPayment, SessionCharge, Tariff
from billing.pricing import Price
from stations.models import ChargingSession
from stations.signals import announce
from users.models import User

logger = logging.getLogger(__name__)

Method = SessionCharge.Method
Status = SessionCharge.Status
# Sessions that stopped longer ago than this without a SessionCharge were missed.
MISSED_AFTER = timedelta(minutes=5)


def settle_session(session_id: int) -> SessionCharge | None:
    """Price a finished session (once) and collect its money (once)."""
    charge = freeze_price(session_id)
    return collect(charge) if charge is not None else None


def freeze_price(session_id: int) -> SessionCharge | None:
    """The session's SessionCharge, created on the first call; None while it runs."""
    with transaction.atomic():
        session = (
            # Only the session row is locked: settling the same session twice queues here.
            ChargingSession.objects.select_for_update(of=("self",))
            .select_related("connector__charge_point__site", "id_token__owner")
            .filter(pk=session_id)
            .first()
        )
        if session is None or session.stopped_at is None:
            return None
        existing = SessionCharge.objects.filter(session=session).first()
        if existing is not None:
            return existing
        driver = tariffs.session_driver(session)
        tariff = tariffs.tariff_for(session.connector, driver, session.started_at)
        price = tariffs.price_of_session(session) if tariff else None
        is_guest = GuestPayment.objects.filter(id_tag=session.id_tag).exists()
        account = accounts.payer_for(driver) if driver is not None and not is_guest else None
        chosen = _chosen_method(session, driver, account)
        charge = new_charge(
            price, account, tariff, is_guest=is_guest, chosen=chosen, session=session
        )
        # The driver hears the session's cost (notifications) once this commits.
        announce(signals.session_priced, SessionCharge, charge=charge)
        return charge


def _chosen_method(
    session: ChargingSession, driver: User | None, account: BillingAccount | None
) -> str | None:
    """How the driver chose to pay for this session when starting it, if they did.

    Only on their own account: a fleet's company pays its own way, a guest by card.
    """
    if driver is None or account is None or account.user_id != driver.pk:
        return None
    choice = payment_choice.claim_for(session, driver)
    return choice.method if choice is not None else None


def new_charge(
    price: Price | None,
    account: BillingAccount | None,
    tariff: Tariff | None,
    *,
    is_guest: bool = False,
    chosen: str | None = None,
    **owner: Any,
) -> SessionCharge:
    """Freeze `price` in a new SessionCharge of its `owner` (session= or booking=), with
    the method and first status its payer's way of paying gives it."""
    method, status, note = _how_to_settle(price, account, is_guest, chosen)
    return SessionCharge.objects.create(
        **owner,
        account=account,
        method=method,
        status=status,
        last_error=note,
        tariff=tariff,
        tariff_name=tariff.name if tariff else "",
        priced_at=timezone.now(),
        **frozen_price(price),
    )


def _how_to_settle(
    price: Price | None,
    account: BillingAccount | None,
    is_guest: bool,
    chosen: str | None = None,
) -> tuple[str, str, str]:
    """(method, status, note) of a newly priced session; `chosen` is the driver's
    choice for this session, else the account's payment method applies."""
    if is_guest:
        # Even at 0 SEK the guest's pre-authorisation has to be released.
        return Method.GUEST, Status.PENDING, ""
    if price is None:
        return Method.NONE, Status.NOTHING_DUE, _("No tariff applies to this session.")
    if price.gross <= 0:
        return Method.NONE, Status.NOTHING_DUE, ""
    if account is None:
        return Method.NONE, Status.NOTHING_DUE, _("The id tag has no owner to bill.")
    payment_method = chosen or account.payment_method
    if payment_method == BillingAccount.PaymentMethod.INVOICE:
        return Method.INVOICE, Status.TO_INVOICE, ""
    if payment_method == BillingAccount.PaymentMethod.CARD:
        if price.gross < payments.MINIMUM_CHARGE:
            return Method.INVOICE, Status.TO_INVOICE, _("Below the card minimum: invoiced.")
        return Method.CARD, Status.PENDING, ""
    return Method.WALLET, Status.PENDING, ""


def frozen_price(price: Price | None) -> dict[str, Any]:
    """A price as SessionCharge fields: its totals, and its lines as JSON (Decimals as
    strings, so the amounts come back exactly)."""
    if price is None:
        return {}
    return {
        "currency": price.currency,
        "vat_rate": price.vat_rate,
        "net": price.net,
        "vat": price.vat,
        "gross": price.gross,
        "energy_kwh": price.energy_kwh,
        "charging_minutes": price.charging_minutes,
        "idle_minutes": price.idle_minutes,
        "lines": [
            {
                "kind": str(line.kind),
                "description": line.description,
                "quantity": str(line.quantity),
                "unit": line.unit,
                "unit_price": str(line.unit_price),
                "net": str(line.net),
                "vat": str(line.vat),
                "gross": str(line.gross),
                "period": line.period,
            }
            for line in price.lines
        ],
    }


def collect(charge: SessionCharge) -> SessionCharge:
    """Take the money for a priced session by its method; then issue the receipt."""
    if charge.method == Method.GUEST:
        guest.collect(charge)
    elif charge.method == Method.WALLET:
        _collect_from_wallet(charge)
    elif charge.method == Method.CARD:
        _collect_by_card(charge)
    charge.refresh_from_db()
    if charge.method != Method.GUEST:  # guest.collect issues the guest's receipt itself
        issue_missing_receipt(charge)
    return charge


def _collect_from_wallet(charge: SessionCharge) -> None:
    with transaction.atomic():
        charge = SessionCharge.objects.select_for_update().get(pk=charge.pk)
        if charge.status != Status.PENDING:
            return
        user = charge.account.user
        entry = wallet.debit_wallet(user, charge.gross, charge.reference, allow_negative=True)
        charges.mark_paid(charge, f"wallet:{entry.pk}")


def _collect_by_card(charge: SessionCharge) -> None:
    """One attempt at charging the card on file; a decline schedules the next."""
    with transaction.atomic():
        charge = SessionCharge.objects.select_for_update().get(pk=charge.pk)
        if charge.status not in (Status.PENDING, Status.FAILED):
            return
        user = charge.account.user
        # A new key per attempt: Stripe (and CardPayment) remember a declined attempt
        # under its key, so the retry must not reuse it; a repeated run of the same
        # attempt does, and is answered from the first.
        key = f"{charge.reference}:attempt:{charge.failed_attempts + 1}"
        try:
            intent = payments.charge_off_session(user, charge.gross, _describe(charge), key)
        except (payments.PaymentError, payments.PaymentsNotConfigured) as error:
            charges.mark_failed(charge, str(error))
            failed = True
        else:
            if intent.status == "succeeded":
                charges.mark_paid(charge, intent.id)
                return
            # requires_action: the bank wants the driver present (3-D Secure).
            charges.mark_failed(charge, _("The card needs the driver to confirm the payment."))
            failed = True
    if failed:
        _tell_payment_failed(charge)
        if standing.failed_payment_attempts(charge.account) == (
            settings.BILLING_BLOCK_AFTER_FAILED_PAYMENTS
        ):
            # This failure blocks the payer (billing/standing.py): staff hear it once.
            announce(signals.payer_blocked, BillingAccount, account=charge.account)


def _describe(charge: SessionCharge) -> str:
    """What the card statement says the payment was for."""
    charge_point, _connector, started_at, _ended_at = charge.where_and_when
    if charge.booking_id is not None:
        return _("No-show fee, booking at %(charge_point)s, %(day)s") % {
            "charge_point": charge_point.charge_point_id,
            "day": timezone.localdate(started_at).isoformat(),
        }
    return _("Charging at %(charge_point)s, %(day)s, %(kwh)s kWh") % {
        "charge_point": charge_point.charge_point_id,
        "day": timezone.localdate(started_at).isoformat(),
        "kwh": charge.energy_kwh,
    }


def _tell_payment_failed(charge: SessionCharge) -> None:
    """Email the payer that a card was declined; once per failed attempt (always sent:
    a failure counts towards blocking the driver's cards, billing/standing.py)."""
    account = charge.account
    address = account.invoice_email
    if not address:
        return
    attempt = SessionCharge.objects.filter(pk=charge.pk).values_list("failed_attempts", flat=True)
    with translation.override(account.invoice_language):
        context = {
            "charge": charge,
            "session": charge.session,
            "booking": charge.booking,
            "next_attempt_at": charge.next_attempt_at,
            "blocked_after": settings.BILLING_BLOCK_AFTER_FAILED_PAYMENTS,
        }
        if charge.booking_id is not None:
            subject = _("The no-show fee of your booking could not be paid")
        else:
            subject = _("Your charging session could not be paid")
        body = render_to_string("billing/email/payment_failed.txt", context)
    signals.send_email(
        kind="payment_failed",
        user=account.user,
        to=address,
        language=account.invoice_language,
        subject=subject,
        body=body,
        reply_to=[],
        document=None,
        key=f"payment-failed:{charge.pk}:{attempt.first()}",
        may_decline=False,
    )


def issue_missing_receipt(charge: SessionCharge) -> None:
    """A paid session gets its receipt, emailed; a crash in between is caught up later."""
    if charge.status != Status.PAID or charge.document_id is not None:
        return
    receipt = invoicing.issue_receipt(charge)
    documents.email_if_not_sent(receipt.pk)


# --- Periodic work (billing/tasks.py) ---


def retry_failed_payments(now: Any = None) -> int:
    """Charge the cards of failed sessions whose next attempt is due; returns how many."""
    now = now or timezone.now()
    due = SessionCharge.objects.filter(
        status=Status.FAILED, method=Method.CARD, next_attempt_at__lte=now
    ).select_related("account__user", "session__charge_point", "booking__connector__charge_point")
    count = 0
    for charge in due:
        collect(charge)
        count += 1
    return count


def settle_missed_sessions(now: Any = None) -> int:
    """Settle sessions that ended without being settled, and catch up missing receipts."""
    now = now or timezone.now()
    missed = ChargingSession.objects.filter(
        status=ChargingSession.Status.COMPLETED,
        stopped_at__lte=now - MISSED_AFTER,
        charge__isnull=True,
    ).values_list("pk", flat=True)
    count = 0
    for session_id in missed:
        settle_session(session_id)
        count += 1
    # Priced but not collected: the task died between the two steps.
    stuck = SessionCharge.objects.filter(status=Status.PENDING, priced_at__lte=now - MISSED_AFTER)
    unreceipted = SessionCharge.objects.filter(status=Status.PAID, document__isnull=True)
    for charge in [*stuck, *unreceipted]:
        collect(charge)
    return count
