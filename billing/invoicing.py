"""Invoices, receipts and credit notes: numbering, issuing, the PDF and the email.

Three kinds of document (billing.models.Invoice), each with its own number series
(settings.BILLING_INVOICE_SERIES; by default F for fakturor, K for kvitton, KR for
kreditnotor):

- a receipt for one session paid by wallet, card or a guest's card (`issue_receipt`);
- a monthly invoice for postpaid drivers and fleets: every session of the account
  waiting to be invoiced, one line each (`issue_monthly_invoice`, run for every account
  by a Celery task on the 1st of the month: billing/tasks.py);
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
  that ended before the month's end: that month's sessions, and any earlier one settled
  too late for its own month's invoice, so that nothing is left behind. One invoice per
  account and month (constraint one_monthly_invoice_per_account, and the account row is
  locked while it is issued): running the month again issues nothing new.
- Language: the buyer's (the account's invoice language, a guest's own), fixed on the
  document when issued; dates on it are local dates and times (settings.TIME_ZONE).
"""

import functools
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from billing.models import (
    BillingAccount,
    GuestPayment,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    SessionCharge,
)
from notifications.preferences import RECEIPTS, wants
from users.models import User

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
ORE = Decimal("0.01")
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


def _session_line(charge: SessionCharge) -> InvoiceLine:
    """One session as a line, in the active language (the document's)."""
    session = charge.session
    charge_point = session.charge_point
    site = charge_point.site
    description = _("Charging session %(number)s") % {"number": session.pk}
    if charge.tariff_name:
        description = f"{description}, {charge.tariff_name}"
    return InvoiceLine(
        session=session,
        description=description[:255],
        site=site.name if site is not None else "",
        charge_point=charge_point.charge_point_id,
        connector=session.connector.connector_id,
        started_at=session.started_at,
        ended_at=session.stopped_at,
        energy_kwh=charge.energy_kwh,
        duration_minutes=_minutes(session.started_at, session.stopped_at),
        components=charge.lines,
        vat_rate=charge.vat_rate,
        net=charge.net,
        vat=charge.vat,
        gross=charge.gross,
    )


def _charges_with_sessions() -> QuerySet[SessionCharge]:
    return SessionCharge.objects.select_related("session__charge_point__site", "session__connector")


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
        locked = _charges_with_sessions().select_for_update(of=("self",)).get(pk=charge.pk)
        if locked.document_id is None:
            if locked.status != SessionCharge.Status.PAID:
                raise InvoicingError(
                    _("Session %(number)s is not paid: a receipt is issued once it is.")
                    % {"number": locked.session_id}
                )
            if locked.account_id is not None:
                account = BillingAccount.objects.select_related("user", "fleet").get(
                    pk=locked.account_id
                )
                buyer = _account_buyer(account)
            else:
                buyer = _guest_buyer(locked)
            with translation.override(buyer["language"]):
                line = _session_line(locked)
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


def _monthly_invoice(account: BillingAccount, period_start: date) -> tuple[Invoice | None, bool]:
    """(invoice, issued now?)"""
    _start, end = month_bounds(period_start)
    if end > timezone.now():
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
        charges = list(
            _charges_with_sessions()
            .select_for_update(of=("self",))
            .filter(
                account=account,
                status=SessionCharge.Status.TO_INVOICE,
                session__stopped_at__lt=end,
            )
            .order_by("session__stopped_at", "pk")
        )
        if not charges:
            return None, False
        currencies = {charge.currency for charge in charges}
        if len(currencies) > 1:
            raise InvoicingError(
                _("Sessions in several currencies (%(currencies)s) cannot share an invoice.")
                % {"currencies": ", ".join(sorted(currencies))}
            )
        buyer = _account_buyer(account)
        with translation.override(buyer["language"]):
            lines = [_session_line(charge) for charge in charges]
        terms = timedelta(days=settings.BILLING_PAYMENT_TERMS_DAYS)
        invoice = _issue(
            Kind.INVOICE,
            lines,
            currency=currencies.pop(),
            period_start=period_start,
            period_end=_next_month(period_start) - timedelta(days=1),
            due_at=timezone.localdate() + terms,
            **buyer,
        )
        SessionCharge.objects.filter(pk__in=[charge.pk for charge in charges]).update(
            status=SessionCharge.Status.INVOICED, document=invoice
        )
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
            status=SessionCharge.Status.TO_INVOICE,
            account__isnull=False,
            session__stopped_at__lt=end,
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


# --- Credit notes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Amounts:
    net: Decimal
    vat: Decimal
    gross: Decimal


def _by_rate(lines: QuerySet[InvoiceLine]) -> dict[Decimal, Amounts]:
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
    issued = _by_rate(InvoiceLine.objects.filter(invoice=invoice))
    credited = _by_rate(InvoiceLine.objects.filter(invoice__corrects=invoice))
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
            % {"number": original.display_number, "rate": _plain(rate)},
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


# --- Who may see a document ----------------------------------------------------------------


def documents_visible_to(user: User) -> QuerySet[Invoice]:
    """Staff with the view_invoice permission see every document; a driver sees the
    documents of their own account (not a fleet's, nor a guest's)."""
    if not user.is_authenticated or not user.is_active:
        return Invoice.objects.none()
    if user.is_staff and user.has_perm("billing.view_invoice"):
        return Invoice.objects.all()
    return Invoice.objects.filter(account__user=user)


# --- The PDF ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VatRow:
    rate: Decimal
    net: Decimal
    vat: Decimal
    gross: Decimal


def vat_breakdown(invoice: Invoice) -> list[VatRow]:
    """Net, VAT and gross per VAT rate: the sums of the document's lines, highest rate first."""
    return [
        VatRow(rate, amounts.net, amounts.vat, amounts.gross)
        for rate, amounts in sorted(_by_rate(invoice.lines.all()).items(), reverse=True)
    ]


CURRENCY_SIGNS = {"EUR": "€"}


def money(amount: Decimal, currency: str) -> str:
    """An amount as printed in the active language: 1 234,50 SEK, 1,234.50 SEK, 12,50 €."""
    number = formats.number_format(amount, decimal_pos=2, use_l10n=True, force_grouping=True)
    return f"{number}\u00a0{CURRENCY_SIGNS.get(currency, currency)}"


def _number(value: Decimal | str | float, min_places: int = 0, max_places: int = 4) -> str:
    """A quantity or unit price as printed: as many decimals as it has, within bounds."""
    try:
        value = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    exponent = value.normalize().as_tuple().exponent
    places = min(max(-exponent if isinstance(exponent, int) else 0, min_places), max_places)
    return formats.number_format(value, decimal_pos=places, use_l10n=True, force_grouping=True)


def _plain(rate: Decimal) -> str:
    return _number(rate, 0, 2)


def _local(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _components(raw: Any) -> list[dict[str, str]]:
    """The priced lines frozen with the session (billing/settlement.py), as printed."""
    if not isinstance(raw, list):
        return []
    shown = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        unit = item.get("unit", "")
        # kWh and minutes have a quantity and a unit price; a session fee or a minimum
        # price adjustment is just an amount.
        measured = unit not in ("", "session")
        shown.append(
            {
                "description": str(item.get("description", "")),
                "quantity": f"{_number(item.get('quantity', ''), 0, 3)} {unit}" if measured else "",
                "unit_price": _number(item.get("unit_price", ""), 2) if measured else "",
                "net": _number(item.get("net", ""), 2, 2),
            }
        )
    return shown


def document_context(invoice: Invoice) -> dict[str, Any]:
    """What the PDF template shows, formatted in the active language."""
    currency = invoice.currency
    lines = [
        {
            "position": line.position,
            "description": line.description,
            "site": line.site,
            "charge_point": line.charge_point,
            "connector": line.connector,
            "started_at": _local(line.started_at),
            "ended_at": _local(line.ended_at),
            "energy_kwh": _number(line.energy_kwh, 3, 3) if line.session_id else "",
            "duration": _number(line.duration_minutes.quantize(Decimal(1), ROUND_HALF_UP))
            if line.session_id
            else "",
            "vat_rate": _plain(line.vat_rate),
            "net": money(line.net, currency),
            "vat": money(line.vat, currency),
            "gross": money(line.gross, currency),
            "components": _components(line.components),
        }
        for line in invoice.lines.order_by("position")
    ]
    return {
        "invoice": invoice,
        "title": Invoice.Kind(invoice.kind).label,
        "seller": invoice.seller,
        "issued_on": timezone.localdate(invoice.issued_at).isoformat(),
        "due_on": invoice.due_at.isoformat() if invoice.due_at else "",
        "period_start": invoice.period_start.isoformat() if invoice.period_start else "",
        "period_end": invoice.period_end.isoformat() if invoice.period_end else "",
        "paid_at": _local(invoice.paid_at),
        "corrects": invoice.corrects.display_number if invoice.corrects_id else "",
        "lines": lines,
        "vat_rows": [
            {
                "rate": _plain(row.rate),
                "net": money(row.net, currency),
                "vat": money(row.vat, currency),
                "gross": money(row.gross, currency),
            }
            for row in vat_breakdown(invoice)
        ],
        "net": money(invoice.net, currency),
        "vat": money(invoice.vat, currency),
        "gross": money(invoice.gross, currency),
    }


def render_pdf(invoice: Invoice) -> bytes:
    """The document as a PDF (WeasyPrint), in its own language."""
    # Imported here: WeasyPrint loads Pango at import, which only this needs.
    from weasyprint import HTML

    with translation.override(invoice.language):
        html = render_to_string("billing/invoice.html", document_context(invoice))
    return HTML(string=html, url_fetcher=_no_fetching()).write_pdf(font_config=_font_config())


_renderer = threading.local()


def _font_config() -> Any:
    """WeasyPrint's font configuration, one per thread and kept.

    Left to itself WeasyPrint makes a new one (a Pango font map) for every document and
    never frees it: a worker rendering a month's invoices grew by ~0.25 MiB per PDF
    (docs/performance.md). Pango's font maps are not shared between threads.
    """
    config = getattr(_renderer, "font_config", None)
    if config is None:
        from weasyprint.text.fonts import FontConfiguration

        config = _renderer.font_config = FontConfiguration()
    return config


@functools.cache
def _no_fetching() -> Any:
    """A URL fetcher that refuses every URL: a document is self-contained, so nothing in
    it (a customer's name included) can make the renderer reach the network or read a
    file. Made once: building WeasyPrint's default fetcher per PDF costs an SSL context."""
    from weasyprint import URLFetcher

    return URLFetcher(allowed_protocols=())


# --- Email -----------------------------------------------------------------------------------


def email_document(invoice: Invoice) -> bool:
    """Email the document's PDF to the buyer and note when; False without an address.

    Sends every time it is called (staff's "Email again"); the task that emails new
    documents skips those already emailed (billing/tasks.py).
    """
    if not invoice.buyer_email:
        return False
    pdf = render_pdf(invoice)
    with translation.override(invoice.language):
        context = {
            "invoice": invoice,
            "title": Invoice.Kind(invoice.kind).label,
            "seller": invoice.seller,
            "gross": money(invoice.gross, invoice.currency),
            "due_on": invoice.due_at.isoformat() if invoice.due_at else "",
        }
        subject = _("%(document)s %(number)s from %(seller)s") % {
            "document": context["title"],
            "number": invoice.display_number,
            "seller": invoice.seller.get("name", ""),
        }
        body = render_to_string("billing/email/document.txt", context)
    reply_to = [invoice.seller["email"]] if invoice.seller.get("email") else []
    message = EmailMessage(subject, body, to=[invoice.buyer_email], reply_to=reply_to)
    message.attach(f"{invoice.display_number}.pdf", pdf, "application/pdf")
    message.send()
    invoice.emailed_at = timezone.now()
    invoice.save(update_fields=["emailed_at"])
    return True


def email_if_not_sent(invoice_id: int) -> bool:
    """Email a document unless it was emailed already (a retried or repeated task) or
    it is a receipt its driver does not want by email (still listed in the portal)."""
    with transaction.atomic():
        # Locked while sending: two tasks for one document cannot both send it.
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None or invoice.emailed_at is not None:
            return False
        if not _wanted_by_email(invoice):
            return False
        return email_document(invoice)


def _wanted_by_email(invoice: Invoice) -> bool:
    """Invoices and credit notes are always sent: they are the legal document of what is
    owed. A driver may turn receipts off (notifications/preferences.py); a guest or a
    fleet cannot."""
    if invoice.kind != Kind.RECEIPT or invoice.account_id is None:
        return True
    driver = invoice.account.user
    return driver is None or wants(driver, RECEIPTS)
