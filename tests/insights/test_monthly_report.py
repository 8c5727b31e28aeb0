"""The monthly operator report: a PDF in Swedish or English with the month's headline
figures and charts, emailed once to finance and operator admins through the outbox."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from pypdf import PdfReader

from insights import report, rollup
from notifications import outbox
from notifications.models import OutboxMessage
from tests.insights.small_history import local, session, site

pytestmark = pytest.mark.django_db
MARCH = date(2026, 3, 1)


@pytest.fixture
def march():
    _place, a, b = site()
    session(a, local(2026, 3, 2, 8, 0), 120, "11", 60, "card", "50.00")
    session(b, local(2026, 3, 4, 17, 0), 60, "22", 60, "invoice", "100.00")
    rollup.roll_up()


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_report_shows_the_month_in_swedish_and_english(march):
    figures = report.headline(MARCH)
    assert figures["sessions"] == 2
    assert figures["gross"] == 150
    assert figures["price_per_kwh"] == Decimal("4.55")  # 150 SEK for 33 kWh
    assert figures["energy_chart"].startswith("<svg")  # drawn on the server
    swedish = text_of(report.render_pdf(MARCH, "sv"))
    assert "månadsrapport 2026-03" in swedish.lower()
    assert "Intäkter per betalsätt" in swedish
    english = text_of(report.render_pdf(MARCH, "en"))
    assert "monthly report 2026-03" in english.lower()
    assert "Revenue per payment method" in english


def test_finance_and_operator_admins_get_it_once_with_the_pdf(march, make_user, mailoutbox):
    call_command("setup_roles", stdout=io.StringIO())
    finance = make_user(is_staff=True, language="sv")
    finance.groups.add(Group.objects.get(name="Finance"))
    operator = make_user(is_staff=True, language="en")
    operator.groups.add(Group.objects.get(name="Operator admin"))
    make_user(is_staff=True).groups.add(Group.objects.get(name="Technician"))
    assert report.send(MARCH) == 2
    assert report.send(MARCH) == 0  # the 1st's task retried: nobody gets it twice
    for message in OutboxMessage.objects.filter(kind="insights_report"):
        assert outbox.deliver(message.pk) is None
    assert sorted(mail.to[0] for mail in mailoutbox) == sorted([finance.email, operator.email])
    for mail in mailoutbox:
        _name, content, mimetype = mail.attachments[0]
        assert mimetype == "application/pdf" and content.startswith(b"%PDF")
    swedish = next(mail for mail in mailoutbox if mail.to == [finance.email])
    assert "2026-03" in swedish.subject and swedish.attachments[0][0] == "chargehub-2026-03-sv.pdf"
