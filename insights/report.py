"""The monthly operator report: last month's headline figures and charts as a PDF
(WeasyPrint, in the reader's language), emailed on the 1st through the notifications
outbox to the Finance and Operator admin roles (users/roles.py).

The PDF is rendered when the email leaves (settings.EMAIL_ATTACHMENTS names
`pdf_attachment`), as billing's documents are: a payload holds no PDF.
"""

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from billing import documents
from insights import charts, figures
from notifications import outbox
from users.models import User
from users.roles import FINANCE, OPERATOR_ADMIN

READERS = (FINANCE.name, OPERATOR_ADMIN.name)
ATTACHMENT = "insights_monthly_report"


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def scope_of(month: date) -> figures.Scope:
    last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    return figures.Scope(start=month, end=last)


def headline(month: date) -> dict[str, Any]:
    """The month's figures on the report's first page (from the dashboards' figures)."""
    scope = scope_of(month)
    energy = figures.energy_and_sessions(scope)
    revenue = figures.revenue_by_method(scope)
    sites = figures.utilisation_by_site(scope)
    drivers = [row for row in figures.active_drivers(scope).rows if row[0] == month.isoformat()[:7]]
    gross = sum((row[1] for row in revenue.rows), Decimal("0.00"))
    fees = sum((row[4] for row in revenue.rows), Decimal("0.00"))  # no-show fees
    kwh = sum((row[1] for row in energy.rows), Decimal(0))
    return {
        "sessions": sum(row[2] for row in energy.rows),
        "energy_kwh": kwh,
        "gross": gross,
        "price_per_kwh": figures.paid_per_kwh(gross - fees, kwh * 1000),
        "active_drivers": drivers[0][1] if drivers else 0,
        "sign_ups": drivers[0][2] if drivers else 0,
        "unpaid": figures.unpaid_and_overdue().rows,
        "energy_chart": charts.bar_chart(
            [row[0][8:] for row in energy.rows], [row[1] for row in energy.rows]
        ),
        "site_chart": charts.bar_chart(
            [row[0][:14] for row in sites.rows], [row[1] for row in sites.rows]
        ),
        "revenue": revenue,
        "sites": sites,
    }


def render_pdf(month: date, language: str) -> bytes:
    """The report as a PDF in `language` (sv or en)."""
    from weasyprint import HTML  # loads Pango: only here

    with translation.override(language):
        html = render_to_string("insights/monthly_report.html", {"month": month, **headline(month)})
    return HTML(string=html, url_fetcher=documents._no_fetching()).write_pdf(
        font_config=documents._font_config()
    )


def pdf_attachment(reference: str) -> tuple[str, bytes, str]:
    """For the email transport: "2026-11:sv" -> the file's name, the PDF, its type."""
    month_text, language = reference.split(":")
    month = date.fromisoformat(f"{month_text}-01")
    return f"chargehub-{month_text}-{language}.pdf", render_pdf(month, language), "application/pdf"


def readers() -> list[User]:
    groups = Group.objects.filter(name__in=READERS)
    return list(
        User.objects.filter(
            Q(groups__in=groups) | Q(is_superuser=True), is_active=True, is_staff=True
        )
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def send(month: date) -> int:
    """Email the report of `month` to every reader, once (the outbox's key); returns how
    many were queued now."""
    queued = 0
    for reader in readers():
        language = reader.language if reader.language in ("sv", "en") else "sv"
        with translation.override(language):
            subject = _("ChargeHub monthly report %(month)s") % {"month": month.isoformat()[:7]}
            text = _("The operator report for %(month)s is attached (PDF).") % {
                "month": month.isoformat()[:7]
            }
        message = outbox.enqueue(
            "insights_report",
            reader,
            "email",
            {
                "subject": subject,
                "text": text,
                "language": language,
                "attachment": {
                    "kind": ATTACHMENT,
                    "reference": f"{month.isoformat()[:7]}:{language}",
                },
            },
            key=f"insights-report:{month.isoformat()[:7]}:{reader.pk}",
        )
        queued += message is not None
    return queued
