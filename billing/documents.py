"""Documents as the buyer gets them: who may see one, the PDF and the email.

The documents themselves are issued by billing/invoicing.py and never change; this
module only renders them, in the language fixed on each (Invoice.language), with the
amounts printed by billing/money.py.
"""

import functools
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing import signals
from billing.invoicing import amounts_by_rate
from billing.models import Invoice
from billing.money import format_money, format_number, format_rate
from users.models import User

Kind = Invoice.Kind


# --- Who may see a document ----------------------------------------------------------------


def visible_to(user: User) -> QuerySet[Invoice]:
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
        for rate, amounts in sorted(amounts_by_rate(invoice.lines.all()).items(), reverse=True)
    ]


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
                "quantity": f"{format_number(item.get('quantity', ''), 0, 3)} {unit}"
                if measured
                else "",
                "unit_price": format_number(item.get("unit_price", ""), 2) if measured else "",
                "net": format_number(item.get("net", ""), 2, 2),
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
            "energy_kwh": format_number(line.energy_kwh, 3, 3) if line.session_id else "",
            "duration": format_number(line.duration_minutes.quantize(Decimal(1), ROUND_HALF_UP))
            if line.session_id
            else "",
            "vat_rate": format_rate(line.vat_rate),
            "net": format_money(line.net, currency),
            "vat": format_money(line.vat, currency),
            "gross": format_money(line.gross, currency),
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
                "rate": format_rate(row.rate),
                "net": format_money(row.net, currency),
                "vat": format_money(row.vat, currency),
                "gross": format_money(row.gross, currency),
            }
            for row in vat_breakdown(invoice)
        ],
        "net": format_money(invoice.net, currency),
        "vat": format_money(invoice.vat, currency),
        "gross": format_money(invoice.gross, currency),
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


def email_document(invoice: Invoice, *, again: bool = True, may_decline: bool = False) -> bool:
    """Hand the document's email (its PDF attached) to the outbox and note when; False
    without an address, or when its driver does not want receipts by email.

    `again` (staff's "Email again") is a new email each time; otherwise it is the
    document's one email, sent once however often it is asked for (billing/tasks.py).
    """
    if not invoice.buyer_email:
        return False
    with translation.override(invoice.language):
        context = {
            "invoice": invoice,
            "title": Invoice.Kind(invoice.kind).label,
            "seller": invoice.seller,
            "gross": format_money(invoice.gross, invoice.currency),
            "due_on": invoice.due_at.isoformat() if invoice.due_at else "",
        }
        subject = _("%(document)s %(number)s from %(seller)s") % {
            "document": context["title"],
            "number": invoice.display_number,
            "seller": invoice.seller.get("name", ""),
        }
        body = render_to_string("billing/email/document.txt", context)
    reply_to = [invoice.seller["email"]] if invoice.seller.get("email") else []
    queued = signals.send_email(
        kind=invoice.kind,
        user=invoice.account.user if invoice.account_id else None,
        to=invoice.buyer_email,
        language=invoice.language,
        subject=subject,
        body=body,
        reply_to=reply_to,
        document=invoice.pk,
        key=f"document:{invoice.pk}:{uuid.uuid4().hex if again else 'issued'}",
        may_decline=may_decline and invoice.kind == Kind.RECEIPT,
    )
    if queued:
        invoice.emailed_at = timezone.now()
        invoice.save(update_fields=["emailed_at"])
    return queued


def pdf_attachment(invoice_id: int) -> tuple[str, bytes]:
    """(file name, PDF) of a document, for its email."""
    invoice = Invoice.objects.get(pk=invoice_id)
    return f"{invoice.display_number}.pdf", render_pdf(invoice)


def email_if_not_sent(invoice_id: int) -> bool:
    """Email a document unless it was emailed already (a retried or repeated task) or
    it is a receipt its driver does not want by email (still listed in the portal).

    Invoices and credit notes are always sent: they are the legal document of what is
    owed. Whether a driver wants receipts is notifications' to say (its preferences);
    a guest or a fleet cannot turn them off.
    """
    with transaction.atomic():
        # Locked while queued: two tasks for one document cannot both queue it.
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None or invoice.emailed_at is not None:
            return False
        return email_document(invoice, again=False, may_decline=True)
