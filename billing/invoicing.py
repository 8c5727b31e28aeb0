"""Invoices, receipts and credit notes: numbering and issuing (their PDF and email:
billing/documents.py).

Three kinds of document (billing.models.Invoice), each with its own number series
(settings.BILLING_INVOICE_SERIES; by default F for fakturor, K for kvitton, KR for
kreditnotor):

- a receipt for one session paid by wallet, card or a guest's card, or for a booking's
  no-show fee (`issue_receipt`);
- a monthly invoice for postpaid drivers and fleets: every session and no-show fee of
  the account waiting to be invoiced, one line each (`issue_monthly_invoice`; `run_month` issues
  every account's on the 1st, from a Celery task, and charges those paid by card);
- a credit note correcting one invoice or receipt, in full or in part
  (`issue_credit_note`); its amounts are negative and it `corrects` the original.

The rules, in one place:

- Numbers. A document takes the next number of its series from the series'
  InvoiceCounter row, locked (SELECT ... FOR UPDATE) in the same transaction that
  inserts the document. Both commit or roll back together, so a series has no gaps and
  no duplicates however many workers issue at once; the lock is taken last, when
  everything else is ready, so that it is held briefly. On SQLite the database-wide
  write lock (IMMEDIATE transactions) does the same.
- Immutable. Everything printed is copied onto the document when it is issued: seller,
  buyer, language, lines, amounts. Invoice.save() refuses any later change but the
  MUTABLE_FIELDS (paid, emailed, refunded). A mistake is corrected by a credit note.
- Money (the rounding rule). Amounts are rounded once, per session, by
  billing/pricing.py and frozen in SessionCharge (net, VAT, gross). A document never
  rounds again: a line carries its session's rounded amounts, the VAT per rate is the
  sum of the lines at that rate, and the totals are the sums of the lines. The VAT of an
  invoice can therefore differ by an öre per session from its rate applied to the summed
  net, and every öre on it can be traced to a session.
- Partial credit. The gross credited is shared over the VAT rates of what is still
  uncredited, in proportion to their gross (largest remainder, to the öre); per rate
  VAT = gross * rate / (100 + rate), rounded half up, net = gross - VAT, each kept within
  what is left at that rate. Nothing can be credited twice: the original is locked while
  a credit note is issued, and more than what remains is refused.
- The month of a monthly invoice is a calendar month in settings.TIME_ZONE. The invoice
  holds every session of the account waiting to be invoiced (SessionCharge TO_INVOICE)
  that ended before the month's end (a no-show fee: whose slot ended before it): that
  month's sessions, and any earlier one settled too late for its own month's invoice,
  so that nothing is left behind. One invoice per account and month (constraint
  one_monthly_invoice_per_account, and the account row is locked while it is issued):
  running the month again issues nothing new.
- Language: the buyer's (the account's invoice language, a guest's own), fixed on the
  document when issued; dates on it are local dates and times (settings.TIME_ZONE).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing import charges, payments
from billing.models import (
    BillingAccount,
    GuestPayment,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    SessionCharge,
)
from billing.money import ORE, format_rate
from users.models import User

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
QUANTITY_STEP = Decimal("0.001")
Kind = Invoice.Kind


class InvoicingError(ValueError):
    """A document that cannot be issued as asked; str() is for the user."""


# --- Seller, series, numbers ---------------------------------------------------------------


def seller() -> dict[str, str]:
    """The seller as printed on documents issued now (settings.BILLING_SELLER)."""
    return {key: str(value) for key, value in settings.BILLING_SELLER.items()}


def series_for(kind: str) -> str:
    series = settings.BILLING_INVOICE_SERIES.get(kind, "")
    if not series:
        raise ImproperlyConfigured(f"BILLING_INVOICE_SERIES has no series for {kind!r}.")
    return series


def _next_number(series: str) -> int:
    """The next number of `series`; the counter stays locked until the caller commits.

    get_or_create on a select_for_update queryset: an existing row is read locked; a
    missing one is inserted (and so locked by us), and if another transaction inserted
    it first, ours fails with IntegrityError inside get_or_create's savepoint and the row
    is read again, locked, once that transaction has committed.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Take a number inside the transaction that saves the document.")
    counter, _created = InvoiceCounter.objects.select_for_update().get_or_create(series=series)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def _issue(kind: str, lines: list[InvoiceLine], **fields: Any) -> Invoice:
    """Number and save a document and its lines; the caller holds the transaction."""
    series = series_for(kind)
    number = _next_number(series)
    invoice = Invoice.objects.create(
        kind=kind,
        series=series,
        number=number,
        # After the number: within a series, later numbers are never issued earlier.
        issued_at=timezone.now(),
        seller=seller(),
        net=sum((line.net for line in lines), ZERO),
        vat=sum((line.vat for line in lines), ZERO),
        gross=sum((line.gross for line in lines), ZERO),
        **fields,
    )
    for position, line in enumerate(lines, start=1):
        line.invoice = invoice
        line.position = position
    InvoiceLine.objects.bulk_create(lines)
    return invoice


# --- Buyers and lines ------------------------------------------------------------------------


def _language(code: str) -> str:
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _account_buyer(account: BillingAccount) -> dict[str, Any]:
    return {
        "account": account,
        "language": _language(account.invoice_language),
        "buyer_name": account.display_name,
        "buyer_email": account.invoice_email,
        "buyer_address": account.address,
        "buyer_org_number": account.org_number,
        "buyer_vat_number": account.vat_number,
    }


def _guest_buyer(charge: SessionCharge) -> dict[str, Any]:
    """A guest who paid at the charger: only the email they gave, if any."""
    session = charge.session
    guest = GuestPayment.objects.filter(session=session).first()
    if guest is None:
        # The session is linked to its guest payment by the one-off id tag first.
        guest = GuestPayment.objects.filter(id_tag=session.id_tag).first()
    return {
        "account": None,
        "language": _language(guest.language if guest else settings.LANGUAGE_CODE),
        "buyer_email": guest.email if guest else "",
    }


def _minutes(start: datetime, end: datetime | None) -> Decimal:
    if end is None or end <= start:
        return ZERO
    micro = Decimal((end - start) // timedelta(microseconds=1))
    return (micro / 60_000_000).quantize(QUANTITY_STEP, ROUND_HALF_UP)


def _charge_line(charge: SessionCharge) -> InvoiceLine:
    """One session, or a booking's no-show fee, as a line, in the active language (the
    document's)."""
    charge_point, connector, started_at, ended_at = charge.where_and_when
    if charge.booking_id is not None:
        description = _("No-show fee, booking %(number)s") % {"number": charge.booking_id}
        owner: dict[str, Any] = {"booking": charge.booking}
    else:
        description = _("Charging session %(number)s") % {"number": charge.session_id}
        owner = {
            "session": charge.session,
            "energy_kwh": charge.energy_kwh,
            "duration_minutes": _minutes(started_at, ended_at),
        }
    if charge.tariff_name:
        description = f"{description}, {charge.tariff_name}"
    site = charge_point.site
    return InvoiceLine(
        **owner,
        description=description[:255],
        site=site.name if site is not None else "",
        charge_point=charge_point.charge_point_id,
        connector=connector.connector_id,
        started_at=started_at,
        ended_at=ended_at,
        components=charge.lines,
        vat_rate=charge.vat_rate,
        net=charge.net,
        vat=charge.vat,
        gross=charge.gross,
    )


def _charges_with_owners() -> QuerySet[SessionCharge]:
    return SessionCharge.objects.select_related(
        "session__charge_point__site",
        "session__connector",
        "booking__connector__charge_point__site",
    )


def _ended_before(end: datetime) -> Q:
    """Charges of sessions that stopped, or of booked slots that ended, before `end`."""
    return Q(session__stopped_at__lt=end) | Q(booking__ends_at__lt=end)


# --- Receipts ------------------------------------------------------------------------------


def issue_receipt(charge: SessionCharge) -> Invoice:
    """The receipt of a paid session (wallet, card or guest), issued once.

    Idempotent: a charge that has its document gets that one back. Runs in its own
    transaction, or as part of the caller's.
    """
    if charge.document_id is not None:
        return charge.document
    with transaction.atomic():
        # Locked: two workers settling the same session cannot both issue a receipt.
        locked = _charges_with_owners().select_for_update(of=("self",)).get(pk=charge.pk)
        if locked.document_id is None:
            if locked.status != SessionCharge.Status.PAID:
                raise InvoicingError(
                    _("The charge of %(owner)s is not paid: a receipt is issued once it is.")
                    % {"owner": locked.owner}
                )
            if locked.account_id is not None:
                account = BillingAccount.objects.select_related("user", "fleet").get(
                    pk=locked.account_id
                )
                buyer = _account_buyer(account)
            else:
                buyer = _guest_buyer(locked)
            with translation.override(buyer["language"]):
                line = _charge_line(locked)
            locked.document = _issue(
                Kind.RECEIPT,
                [line],
                currency=locked.currency,
                paid_at=locked.paid_at,
                payment_reference=locked.payment_reference,
                **buyer,
            )
            locked.save(update_fields=["document"])
    charge.document = locked.document
    return locked.document


# --- Monthly invoices ------------------------------------------------------------------------


def month_bounds(period_start: date) -> tuple[datetime, datetime]:
    """The month that starts on `period_start`, as UTC instants [start, end), cut at
    midnight in settings.TIME_ZONE."""
    if isinstance(period_start, datetime) or not isinstance(period_start, date):
        raise InvoicingError(_("A month is given by the date of its first day."))
    if period_start.day != 1:
        raise InvoicingError(
            _("%(date)s is not the first day of a month.") % {"date": period_start.isoformat()}
        )
    tz = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(period_start, time.min, tzinfo=tz)
    end = datetime.combine(_next_month(period_start), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def last_month(today: date | None = None) -> date:
    """The first day of the month before `today` (default: today in TIME_ZONE)."""
    today = today or timezone.localdate()
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


def issue_monthly_invoice(account: BillingAccount, period_start: date) -> Invoice | None:
    """The account's invoice for the month starting on `period_start`: issued now with
    every session waiting to be invoiced, or the one already issued; None when there is
    nothing to invoice. The month must be over."""
    invoice, _created = _monthly_invoice(account, period_start)
    return invoice


def issue_invoice_now(account: BillingAccount) -> tuple[Invoice | None, bool]:
    """This month's invoice of the account, issued today with the sessions so far (a
    driver who leaves, a fleet that wants its figures now): (invoice, issued now?).

    The same rules as the monthly run, and the same "one invoice per account and month":
    asking again, or the run on the 1st, finds this one; sessions that end later this
    month wait for next month's invoice.
    """
    return _monthly_invoice(account, timezone.localdate().replace(day=1), early=True)


def _monthly_invoice(
    account: BillingAccount, period_start: date, *, early: bool = False
) -> tuple[Invoice | None, bool]:
    """(invoice, issued now?)"""
    _start, end = month_bounds(period_start)
    period_end = _next_month(period_start) - timedelta(days=1)
    if early:
        end, period_end = min(end, timezone.now()), min(period_end, timezone.localdate())
    elif end > timezone.now():
        raise InvoicingError(
            _("The month of %(date)s is not over yet.") % {"date": period_start.isoformat()}
        )
    with transaction.atomic():
        # The account row is the lock that makes a repeated or concurrent run wait for
        # the first one and then find its invoice; the constraint is the last resort.
        account = (
            BillingAccount.objects.select_for_update(of=("self",))
            .select_related("user", "fleet")
            .get(pk=account.pk)
        )
        existing = Invoice.objects.filter(
            account=account, kind=Kind.INVOICE, period_start=period_start
        ).first()
        if existing is not None:
            return existing, False
        waiting = list(
            _charges_with_owners()
            .select_for_update(of=("self",))
            .filter(_ended_before(end), account=account, status=SessionCharge.Status.TO_INVOICE)
            .order_by(Coalesce("session__stopped_at", "booking__ends_at"), "pk")
        )
        if not waiting:
            return None, False
        currencies = {charge.currency for charge in waiting}
        if len(currencies) > 1:
            raise InvoicingError(
                _("Sessions in several currencies (%(currencies)s) cannot share an invoice.")
                % {"currencies": ", ".join(sorted(currencies))}
            )
        buyer = _account_buyer(account)
        with translation.override(buyer["language"]):
            lines = [_charge_line(charge) for charge in waiting]
        terms = timedelta(days=settings.BILLING_PAYMENT_TERMS_DAYS)
        invoice = _issue(
            Kind.INVOICE,
            lines,
            currency=currencies.pop(),
            period_start=period_start,
            period_end=period_end,
            due_at=timezone.localdate() + terms,
            **buyer,
        )
        charges.mark_invoiced(waiting, invoice)
    return invoice, True


def issue_monthly_invoices(period_start: date | None = None) -> list[Invoice]:
    """Issue the month's invoice of every account with sessions waiting to be invoiced
    (default: last month); returns the invoices issued by this run.

    Each account in its own transaction: one that fails is logged and left for the next
    run, and does not hold up the others.
    """
    period_start = period_start or last_month()
    _start, end = month_bounds(period_start)
    waiting = (
        SessionCharge.objects.filter(
            _ended_before(end), status=SessionCharge.Status.TO_INVOICE, account__isnull=False
        )
        .order_by()  # without the default ordering's columns, DISTINCT is per account
        .values_list("account_id", flat=True)
        .distinct()
    )
    issued = []
    for account in BillingAccount.objects.filter(pk__in=list(waiting)).order_by("pk"):
        try:
            invoice, created = _monthly_invoice(account, period_start)
        except Exception:
            logger.exception(
                "Monthly invoice for account %s, %s not issued", account.pk, period_start
            )
            continue
        if created and invoice is not None:
            issued.append(invoice)
    logger.info("Monthly invoices for %s: %d issued", period_start, len(issued))
    return issued


@dataclass(frozen=True)
class MonthlyRun:
    period_start: date
    issued: list[Invoice]
    # The month's invoices not emailed yet, this run's and any a run that died left.
    to_email: list[int]


def run_month(period_start: date | None = None) -> MonthlyRun:
    """The run on the 1st (billing/tasks.py): the month's invoices (default: last
    month's) issued, charged to the card where the account asks for that, and listed
    for emailing.

    Cards before the emails, so that a card-paid invoice says so. All of the month's
    invoices, not only this run's: a run that died half-way is finished by the next one
    (each invoice is charged at most once, keyed on it; emailing skips what was sent).
    """
    period_start = period_start or last_month()
    issued = issue_monthly_invoices(period_start)
    month = Invoice.objects.filter(kind=Kind.INVOICE, period_start=period_start)
    for invoice in month.filter(
        paid_at__isnull=True, account__charge_invoices_to_card=True
    ).select_related("account__user"):
        charge_invoice_to_card(invoice)
    to_email = month.filter(emailed_at__isnull=True).exclude(buyer_email="")
    return MonthlyRun(period_start, issued, list(to_email.values_list("pk", flat=True)))


def charge_invoice_to_card(invoice: Invoice) -> bool:
    """Pay a monthly invoice with the driver's card, if their account asks for that.

    One attempt, keyed on the invoice (a repeated task never charges twice). A decline,
    or an amount Stripe cannot charge, leaves the invoice open: it is emailed with the
    bank details and a due date like any other. True when it was paid.
    """
    account = invoice.account
    if (
        invoice.kind != Invoice.Kind.INVOICE
        or invoice.paid_at is not None
        or account is None
        or account.user_id is None
        or not account.charge_invoices_to_card
    ):
        return False
    try:
        intent = payments.charge_off_session(
            account.user,
            invoice.gross,
            _("Invoice %(number)s") % {"number": invoice.display_number},
            f"invoice:{invoice.pk}",
        )
    except (payments.PaymentError, payments.PaymentsNotConfigured) as error:
        logger.warning("Invoice %s not charged to the card: %s", invoice.display_number, error)
        return False
    if intent.status != "succeeded":
        return False
    invoice.paid_at = timezone.now()
    invoice.payment_reference = intent.id
    invoice.save(update_fields=["paid_at", "payment_reference"])
    return True


# --- Credit notes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Amounts:
    net: Decimal
    vat: Decimal
    gross: Decimal


def amounts_by_rate(lines: QuerySet[InvoiceLine]) -> dict[Decimal, Amounts]:
    rows = lines.values("vat_rate").annotate(net=Sum("net"), vat=Sum("vat"), gross=Sum("gross"))
    # Exact sums of 2-decimal amounts, quantized because SQLite's SUM drops the places
    # (10 rather than 10.00), which would show on documents and in messages.
    return {
        row["vat_rate"].quantize(ORE): Amounts(
            row["net"].quantize(ORE), row["vat"].quantize(ORE), row["gross"].quantize(ORE)
        )
        for row in rows
    }


def uncredited(invoice: Invoice) -> dict[Decimal, Amounts]:
    """What of an invoice or receipt has not been credited yet, per VAT rate."""
    issued = amounts_by_rate(InvoiceLine.objects.filter(invoice=invoice))
    credited = amounts_by_rate(InvoiceLine.objects.filter(invoice__corrects=invoice))
    remaining = {}
    for rate, amounts in issued.items():
        back = credited.get(rate, Amounts(ZERO, ZERO, ZERO))  # negative amounts
        remaining[rate] = Amounts(
            amounts.net + back.net, amounts.vat + back.vat, amounts.gross + back.gross
        )
    return remaining


def uncredited_gross(invoice: Invoice) -> Decimal:
    return sum((amounts.gross for amounts in uncredited(invoice).values()), ZERO)


def issue_credit_note(
    invoice: Invoice,
    *,
    gross: Decimal | None = None,
    reason: str,
    issued_by: User | None = None,
) -> Invoice:
    """Credit an invoice or receipt: all that is left of it (gross None) or `gross`
    (incl. VAT, a positive amount). The credit note's amounts are negative."""
    reason = (reason or "").strip()
    if not reason:
        raise InvoicingError(_("Say why the document is credited."))
    if gross is not None:
        gross = _amount_to_credit(gross)
    with transaction.atomic():
        # Locked: two members of staff crediting at once cannot credit more than there is.
        original = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if original.kind == Kind.CREDIT_NOTE:
            raise InvoicingError(
                _("%(number)s is a credit note: credit the document it corrects instead.")
                % {"number": original.display_number}
            )
        remaining = uncredited(original)
        left = sum((amounts.gross for amounts in remaining.values()), ZERO)
        if left <= 0:
            raise InvoicingError(
                _("%(number)s is already credited in full.") % {"number": original.display_number}
            )
        if gross is not None and gross > left:
            raise InvoicingError(
                _("Only %(left)s %(currency)s of %(number)s is left to credit, not %(gross)s.")
                % {
                    "left": left,
                    "currency": original.currency,
                    "number": original.display_number,
                    "gross": gross,
                }
            )
        nothing_credited_yet = not original.credit_notes.exists()
        with translation.override(original.language):
            if gross is None or gross == left:
                if nothing_credited_yet:
                    lines = _mirrored_lines(original)
                else:
                    lines = _credit_lines(original, remaining)
            else:
                lines = _credit_lines(original, _share(gross, remaining))
        return _issue(
            Kind.CREDIT_NOTE,
            lines,
            corrects=original,
            account=original.account,
            language=original.language,
            currency=original.currency,
            buyer_name=original.buyer_name,
            buyer_email=original.buyer_email,
            buyer_address=original.buyer_address,
            buyer_org_number=original.buyer_org_number,
            buyer_vat_number=original.buyer_vat_number,
            period_start=original.period_start,
            period_end=original.period_end,
            note=reason,
            issued_by=issued_by,
        )


def _amount_to_credit(gross: Decimal) -> Decimal:
    if isinstance(gross, bool) or not isinstance(gross, Decimal | int):
        raise InvoicingError(_("Give the amount to credit as a number of kronor and öre."))
    gross = Decimal(gross)
    if not gross.is_finite() or gross <= 0:
        raise InvoicingError(
            _("The amount to credit must be more than 0, not %(amount)s.") % {"amount": gross}
        )
    if gross != gross.quantize(ORE):
        raise InvoicingError(
            _("%(amount)s has more than two decimals: credit whole öre or cents.")
            % {"amount": gross}
        )
    return gross.quantize(ORE)


def _mirrored_lines(original: Invoice) -> list[InvoiceLine]:
    """A full credit: each line of the original, with its amounts negated."""
    return [
        InvoiceLine(
            session_id=line.session_id,
            booking_id=line.booking_id,
            description=(_("Credit: %(description)s") % {"description": line.description})[:255],
            site=line.site,
            charge_point=line.charge_point,
            connector=line.connector,
            started_at=line.started_at,
            ended_at=line.ended_at,
            energy_kwh=line.energy_kwh,
            duration_minutes=line.duration_minutes,
            vat_rate=line.vat_rate,
            net=-line.net,
            vat=-line.vat,
            gross=-line.gross,
        )
        for line in original.lines.order_by("position")
    ]


def _credit_lines(original: Invoice, amounts: dict[Decimal, Amounts]) -> list[InvoiceLine]:
    """A credit of amounts per VAT rate: one line per rate."""
    return [
        InvoiceLine(
            description=_("Credit of %(number)s, VAT %(rate)s %%")
            % {"number": original.display_number, "rate": format_rate(rate)},
            vat_rate=rate,
            net=-share.net,
            vat=-share.vat,
            gross=-share.gross,
        )
        for rate, share in sorted(amounts.items(), reverse=True)
        if share.gross
    ]


def _share(gross: Decimal, remaining: dict[Decimal, Amounts]) -> dict[Decimal, Amounts]:
    """Part of what remains, shared over the VAT rates in proportion to their gross."""
    rates = sorted((rate for rate, left in remaining.items() if left.gross > 0), reverse=True)
    total = sum((remaining[rate].gross for rate in rates), ZERO)
    exact = [gross * remaining[rate].gross / total for rate in rates]
    floors = [share.quantize(ORE, ROUND_FLOOR) for share in exact]
    extra = int((gross - sum(floors, ZERO)) / ORE)
    # Largest remainder first, ties to the higher rate (the order of `rates`).
    for index in sorted(range(len(rates)), key=lambda i: (-(exact[i] - floors[i]), i))[:extra]:
        floors[index] += ORE
    shares = {}
    for rate, share in zip(rates, floors, strict=True):
        left = remaining[rate]
        if share == left.gross:
            shares[rate] = left
            continue
        vat = (share * rate / (100 + rate)).quantize(ORE, ROUND_HALF_UP)
        # Never more net or more VAT back than is left at this rate.
        vat = min(max(vat, share - left.net), left.vat)
        shares[rate] = Amounts(share - vat, vat, share)
    return shares
