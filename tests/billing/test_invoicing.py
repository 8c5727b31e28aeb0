"""billing/invoicing.py: receipts, monthly invoices and credit notes, their numbers and
their amounts. Every expected amount is the hand-made sum of the session amounts given
(tests/billing/invoicing_data.py); a document never rounds again."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import documents, invoicing, tasks
from billing.invoicing import InvoicingError
from billing.models import GuestPayment, Invoice, InvoiceCounter, InvoiceLine, SessionCharge
from tests.billing.conftest import POSTGRESQL_ONLY, in_threads
from tests.billing.invoicing_data import (
    APRIL,
    MARCH,
    D,
    connector,
    driver_account,
    fleet_account,
    paid,
    priced,
    utc,
)

Status = SessionCharge.Status
Kind = Invoice.Kind


def amounts(document: Invoice) -> tuple[Decimal, Decimal, Decimal]:
    return document.net, document.vat, document.gross


# --- Receipts ---


@pytest.mark.django_db
def test_receipt_of_a_wallet_paid_session_copies_buyer_session_and_payment(driver):
    account = driver_account(
        driver,
        payment_method="wallet",
        name="Åsa Öberg",
        email="asa@example.com",
        address="Ågatan 3\n411 04 Göteborg",
        language="sv",
    )
    charge = paid(
        account,
        at=connector("Göteborg Hamnen", "CP-HAMN-1"),
        stopped_at=utc(2026, 3, 14, 17, 20),  # 18:20 in Stockholm
        minutes=75,
        net="40.00",
        vat="10.00",
    )

    receipt = invoicing.issue_receipt(charge)

    receipt.refresh_from_db()
    assert (receipt.kind, receipt.series, receipt.number) == (Kind.RECEIPT, "K", 1)
    assert receipt.display_number == "K-000001"
    assert amounts(receipt) == (D("40.00"), D("10.00"), D("50.00"))
    assert receipt.account == account
    assert (receipt.buyer_name, receipt.buyer_email, receipt.language) == (
        "Åsa Öberg",
        "asa@example.com",
        "sv",
    )
    assert receipt.buyer_address == "Ågatan 3\n411 04 Göteborg"
    assert receipt.seller == settings.BILLING_SELLER
    assert receipt.paid_at == utc(2026, 3, 14, 17, 21)
    assert receipt.payment_reference == "wallet:7"
    assert receipt.issued_at.utcoffset() == timedelta(0)
    [line] = receipt.lines.all()
    assert line.position == 1
    assert line.session_id == charge.session_id
    assert (line.site, line.charge_point, line.connector) == ("Göteborg Hamnen", "CP-HAMN-1", 2)
    assert (line.started_at, line.ended_at) == (utc(2026, 3, 14, 16, 5), utc(2026, 3, 14, 17, 20))
    assert (line.energy_kwh, line.duration_minutes) == (D("12.345"), D("75.000"))
    assert (line.vat_rate, line.net, line.vat, line.gross) == (
        D("25"),
        D("40.00"),
        D("10.00"),
        D("50.00"),
    )
    assert line.components == charge.lines
    assert str(charge.session_id) in line.description
    charge.refresh_from_db()
    assert charge.document == receipt
    assert charge.status == Status.PAID  # a receipt records the payment, it is not one


@pytest.mark.django_db
def test_receipt_is_issued_once_however_often_asked(driver):
    charge = paid(driver_account(driver))
    first = invoicing.issue_receipt(charge)
    again = invoicing.issue_receipt(SessionCharge.objects.get(pk=charge.pk))
    assert again.pk == first.pk
    assert Invoice.objects.count() == 1
    assert InvoiceCounter.objects.get(series="K").last_number == 1


@pytest.mark.django_db
def test_guest_receipt_goes_to_the_email_and_language_the_guest_gave():
    charge = paid(None, method=SessionCharge.Method.GUEST, payment_reference="pi_guest1")
    GuestPayment.objects.create(
        connector=charge.session.connector,
        email="gäst@example.com",
        language="en",
        id_tag=charge.session.id_tag,
        amount_authorised=D("300.00"),
        session=charge.session,
    )

    receipt = invoicing.issue_receipt(charge)

    assert receipt.account is None
    assert (receipt.buyer_name, receipt.buyer_email, receipt.language) == (
        "",
        "gäst@example.com",
        "en",
    )
    assert receipt.payment_reference == "pi_guest1"


@pytest.mark.django_db
def test_unpaid_session_gets_no_receipt_and_uses_no_number(driver):
    charge = priced(driver_account(driver), stopped_at=utc(2026, 3, 1, 9), net="1.00", vat="0.25")
    with pytest.raises(InvoicingError, match="not paid"):
        invoicing.issue_receipt(charge)
    assert not Invoice.objects.exists()
    assert not InvoiceCounter.objects.filter(series="K", last_number__gt=0).exists()


@pytest.mark.django_db
def test_a_number_taken_in_a_transaction_that_rolled_back_is_issued_again(driver):
    account = driver_account(driver)
    first, second = paid(account), paid(account)

    with pytest.raises(RuntimeError), transaction.atomic():
        invoicing.issue_receipt(first)
        raise RuntimeError("the caller's transaction fails after the receipt")

    receipt = invoicing.issue_receipt(second)
    assert receipt.number == 1  # no gap where the rolled back K-000001 was
    first.refresh_from_db()
    assert first.document is None


@pytest.mark.django_db
def test_each_kind_of_document_counts_in_its_own_series(driver):
    account = driver_account(driver)
    receipts = [invoicing.issue_receipt(paid(account)) for _ in range(3)]
    priced(account, stopped_at=utc(2026, 3, 10, 12), net="8.00", vat="2.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    credit_note = invoicing.issue_credit_note(receipts[0], reason="Wrong connector")
    assert [r.display_number for r in receipts] == ["K-000001", "K-000002", "K-000003"]
    assert invoice.display_number == "F-000001"
    assert credit_note.display_number == "KR-000001"


@pytest.mark.django_db
def test_series_come_from_the_settings(driver, settings):
    settings.BILLING_INVOICE_SERIES = {**settings.BILLING_INVOICE_SERIES, "receipt": "R26"}
    receipt = invoicing.issue_receipt(paid(driver_account(driver)))
    assert receipt.display_number == "R26-000001"


# --- Immutability ---


@pytest.mark.django_db
def test_an_issued_document_cannot_be_changed_or_deleted(driver):
    receipt = invoicing.issue_receipt(paid(driver_account(driver)))
    receipt.gross = D("1.00")
    with pytest.raises(ValidationError):
        receipt.save()
    with pytest.raises(ValidationError):
        receipt.delete()
    receipt.refresh_from_db()
    assert receipt.gross == D("50.00")
    receipt.emailed_at = timezone.now()
    receipt.save(update_fields=["emailed_at"])  # what happens afterwards may be noted


@pytest.mark.django_db
def test_the_database_refuses_a_second_document_with_the_same_number(driver):
    receipt = invoicing.issue_receipt(paid(driver_account(driver)))
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            kind=Kind.RECEIPT,
            series=receipt.series,
            number=receipt.number,
            issued_at=timezone.now(),
            net=0,
            vat=0,
            gross=0,
        )


# --- Monthly invoices ---


@pytest.mark.django_db
def test_monthly_invoice_has_one_line_per_session_of_the_month_in_local_time(driver):
    account = driver_account(driver, name="Åsa Öberg", language="sv", org_number="")
    # 2026-03-31 23:30 in Stockholm (CEST, UTC+2) is still March...
    last_of_march = priced(account, stopped_at=utc(2026, 3, 31, 21, 30), net="20.02", vat="5.01")
    early = priced(account, stopped_at=utc(2026, 3, 2, 7), net="10.01", vat="2.50")
    # ... 2026-04-01 00:10 in Stockholm is April, though it is still March 31 in UTC.
    april = priced(account, stopped_at=utc(2026, 3, 31, 22, 10), net="5.00", vat="1.25")
    already_paid = paid(account, stopped_at=utc(2026, 3, 20, 12))
    someone_else = priced(
        driver_account(driver.__class__.objects.create_user("other@example.com", "pw")),
        stopped_at=utc(2026, 3, 15, 12),
        net="99.00",
        vat="24.75",
    )

    invoice = invoicing.issue_monthly_invoice(account, MARCH)

    assert invoice.kind == Kind.INVOICE
    assert (invoice.period_start, invoice.period_end) == (MARCH, date(2026, 3, 31))
    assert invoice.due_at == timezone.localdate() + timedelta(days=30)
    # 10.01 + 20.02 = 30.03; 2.50 + 5.01 = 7.51; 30.03 + 7.51 = 37.54
    assert amounts(invoice) == (D("30.03"), D("7.51"), D("37.54"))
    assert [line.session_id for line in invoice.lines.order_by("position")] == [
        early.session_id,
        last_of_march.session_id,
    ]
    for charge in (early, last_of_march):
        charge.refresh_from_db()
        assert (charge.status, charge.document) == (Status.INVOICED, invoice)
    for charge in (april, someone_else):
        charge.refresh_from_db()
        assert (charge.status, charge.document) == (Status.TO_INVOICE, None)
    already_paid.refresh_from_db()
    assert already_paid.document is None


@pytest.mark.django_db
def test_invoice_vat_is_the_sum_of_the_sessions_vat_not_recomputed_on_the_total(driver):
    account = driver_account(driver)
    # pricing.py rounded each session once: 0.02 net, 25 % VAT = 0.005 -> 0.01.
    for day in (3, 4, 5):
        priced(account, stopped_at=utc(2026, 3, day, 12), net="0.02", vat="0.01")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    # 3 x 0.01 = 0.03, although 25 % of the summed 0.06 would round to 0.02.
    assert amounts(invoice) == (D("0.06"), D("0.03"), D("0.09"))


@pytest.mark.django_db
def test_vat_breakdown_has_one_row_per_rate_summed_from_the_lines(driver):
    account = driver_account(driver)
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="10.01", vat="2.50")
    priced(account, stopped_at=utc(2026, 3, 4, 12), net="100.00", vat="12.00", vat_rate="12")
    priced(account, stopped_at=utc(2026, 3, 5, 12), net="20.02", vat="5.01")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    assert documents.vat_breakdown(invoice) == [
        documents.VatRow(D("25.00"), D("30.03"), D("7.51"), D("37.54")),
        documents.VatRow(D("12.00"), D("100.00"), D("12.00"), D("112.00")),
    ]
    # 30.03 + 100.00 = 130.03; 7.51 + 12.00 = 19.51
    assert amounts(invoice) == (D("130.03"), D("19.51"), D("149.54"))


@pytest.mark.django_db
def test_fleet_invoice_carries_the_company_details(make_user):
    account = fleet_account(
        name="Åkeri Öst AB",
        email="ekonomi@akeri.example",
        address="Industrivägen 5\n831 30 Östersund",
        org_number="556677-8899",
        vat_number="SE556677889901",
        language="en",
    )
    account.fleet.members.add(make_user(), make_user())
    for day in (2, 9):
        priced(account, stopped_at=utc(2026, 3, day, 12), net="8.00", vat="2.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    assert (invoice.buyer_name, invoice.buyer_email, invoice.language) == (
        "Åkeri Öst AB",
        "ekonomi@akeri.example",
        "en",
    )
    assert (invoice.buyer_org_number, invoice.buyer_vat_number) == (
        "556677-8899",
        "SE556677889901",
    )
    assert invoice.lines.count() == 2
    assert amounts(invoice) == (D("16.00"), D("4.00"), D("20.00"))


@pytest.mark.django_db
def test_buyer_details_changed_later_do_not_change_the_invoice(driver):
    account = driver_account(driver, name="Old Name AB")
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    account.name = "New Name AB"
    account.save()
    invoice.refresh_from_db()
    assert invoice.buyer_name == "Old Name AB"


@pytest.mark.django_db
def test_month_with_nothing_to_invoice_gives_no_invoice(driver):
    account = driver_account(driver)
    priced(account, stopped_at=utc(2026, 4, 3, 12), net="8.00", vat="2.00")
    assert invoicing.issue_monthly_invoice(account, MARCH) is None
    assert not Invoice.objects.exists()
    assert not InvoiceCounter.objects.filter(last_number__gt=0).exists()


@pytest.mark.django_db
def test_issuing_the_month_again_returns_the_same_invoice(driver):
    account = driver_account(driver)
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    first = invoicing.issue_monthly_invoice(account, MARCH)
    assert invoicing.issue_monthly_invoice(account, MARCH).pk == first.pk
    assert Invoice.objects.count() == 1


@pytest.mark.django_db
def test_monthly_run_repeated_never_duplicates(make_user):
    accounts = [driver_account(make_user()) for _ in range(3)]
    for account in accounts:
        priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
        priced(account, stopped_at=utc(2026, 3, 4, 12), net="4.00", vat="1.00")

    first = invoicing.issue_monthly_invoices(MARCH)
    second = invoicing.issue_monthly_invoices(MARCH)

    assert len(first) == 3
    assert second == []
    assert Invoice.objects.count() == 3
    assert sorted(i.number for i in first) == [1, 2, 3]
    assert InvoiceLine.objects.count() == 6
    assert not SessionCharge.objects.filter(status=Status.TO_INVOICE).exists()


@pytest.mark.django_db
def test_a_session_settled_after_its_month_was_invoiced_goes_on_the_next_invoice(driver):
    account = driver_account(driver)
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    march = invoicing.issue_monthly_invoice(account, MARCH)
    late = priced(account, stopped_at=utc(2026, 3, 30, 12), net="4.00", vat="1.00")
    priced(account, stopped_at=utc(2026, 4, 2, 12), net="2.00", vat="0.50")

    assert invoicing.issue_monthly_invoices(MARCH) == []
    april = invoicing.issue_monthly_invoice(account, APRIL)

    assert march.lines.count() == 1
    assert april.lines.count() == 2
    late.refresh_from_db()
    assert late.document == april
    # 4.00 + 2.00 = 6.00; 1.00 + 0.50 = 1.50
    assert amounts(april) == (D("6.00"), D("1.50"), D("7.50"))


@pytest.mark.django_db
def test_one_account_that_cannot_be_invoiced_does_not_stop_the_others(make_user, caplog):
    broken = driver_account(make_user())
    priced(broken, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    priced(broken, stopped_at=utc(2026, 3, 4, 12), net="8.00", vat="2.00", currency="EUR")
    fine = driver_account(make_user())
    priced(fine, stopped_at=utc(2026, 3, 5, 12), net="8.00", vat="2.00")

    issued = invoicing.issue_monthly_invoices(MARCH)

    assert [invoice.account for invoice in issued] == [fine]
    assert f"account {broken.pk}" in caplog.text
    assert SessionCharge.objects.filter(account=broken, status=Status.TO_INVOICE).count() == 2


@pytest.mark.django_db
def test_monthly_run_defaults_to_last_month(driver):
    account = driver_account(driver)
    first_of_last_month = invoicing.last_month()
    stopped = timezone.make_aware(datetime.combine(first_of_last_month, datetime.min.time()))
    priced(account, stopped_at=stopped + timedelta(days=1, hours=12), net="8.00", vat="2.00")
    [invoice] = invoicing.issue_monthly_invoices()
    assert invoice.period_start == first_of_last_month


@pytest.mark.parametrize(
    ("today", "expected"),
    [(date(2026, 1, 1), date(2025, 12, 1)), (date(2026, 3, 31), date(2026, 2, 1))],
)
def test_last_month(today, expected):
    assert invoicing.last_month(today) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [date(2026, 3, 2), datetime(2026, 3, 1, 0, 0), "2026-03-01"])
def test_a_month_is_given_by_its_first_day(driver, bad):
    with pytest.raises(InvoicingError):
        invoicing.issue_monthly_invoice(driver_account(driver), bad)


@pytest.mark.django_db
def test_a_month_that_is_not_over_is_not_invoiced(driver):
    account = driver_account(driver)
    this_month = timezone.localdate().replace(day=1)
    with pytest.raises(InvoicingError, match="not over"):
        invoicing.issue_monthly_invoice(account, this_month)


@pytest.mark.django_db
def test_monthly_task_issues_and_emails_each_invoice_once(
    make_user, mailoutbox, django_capture_on_commit_callbacks
):
    account = driver_account(make_user(email="anna@example.com"))
    quiet = fleet_account()  # no address to send to
    first_of_last_month = invoicing.last_month()
    stopped = timezone.make_aware(datetime.combine(first_of_last_month, datetime.min.time()))
    for payer in (account, quiet):
        priced(payer, stopped_at=stopped + timedelta(days=2), net="8.00", vat="2.00")

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        assert tasks.issue_monthly_invoices() == 2
        assert tasks.issue_monthly_invoices() == 0

    assert [message.to for message in mailoutbox] == [["anna@example.com"]]
    assert Invoice.objects.get(account=account).emailed_at is not None


# --- Credit notes ---


@pytest.fixture
def march_invoice(driver):
    account = driver_account(driver, language="en")
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="30.00", vat="7.50")
    priced(account, stopped_at=utc(2026, 3, 4, 12), net="10.00", vat="2.50")
    return invoicing.issue_monthly_invoice(account, MARCH)  # 40.00 + 10.00 = 50.00


@pytest.mark.django_db
def test_full_credit_note_mirrors_every_line_with_negative_amounts(march_invoice, staff):
    note = invoicing.issue_credit_note(march_invoice, reason="Charger fault", issued_by=staff)

    assert (note.kind, note.display_number, note.corrects) == (
        Kind.CREDIT_NOTE,
        "KR-000001",
        march_invoice,
    )
    assert amounts(note) == (D("-40.00"), D("-10.00"), D("-50.00"))
    assert [(line.session_id, line.net, line.vat, line.gross) for line in note.lines.all()] == [
        (line.session_id, -line.net, -line.vat, -line.gross) for line in march_invoice.lines.all()
    ]
    assert (note.note, note.issued_by, note.account) == (
        "Charger fault",
        staff,
        march_invoice.account,
    )
    assert (note.buyer_name, note.language) == (march_invoice.buyer_name, "en")
    assert invoicing.uncredited_gross(march_invoice) == D("0.00")


@pytest.mark.django_db
def test_partial_credit_takes_the_vat_out_of_the_gross(march_invoice):
    note = invoicing.issue_credit_note(march_invoice, gross=D("12.50"), reason="Goodwill")
    # VAT = 12.50 x 25 / 125 = 2.50; net = 12.50 - 2.50 = 10.00
    assert amounts(note) == (D("-10.00"), D("-2.50"), D("-12.50"))
    [line] = note.lines.all()
    assert (line.vat_rate, line.session_id) == (D("25.00"), None)
    assert "F-000001" in line.description
    assert invoicing.uncredited_gross(march_invoice) == D("37.50")


@pytest.mark.django_db
def test_full_credit_after_a_partial_one_credits_exactly_what_is_left(march_invoice):
    invoicing.issue_credit_note(march_invoice, gross=D("12.50"), reason="Goodwill")
    rest = invoicing.issue_credit_note(march_invoice, reason="Contract ended")
    # 40.00 - 10.00 = 30.00; 10.00 - 2.50 = 7.50
    assert amounts(rest) == (D("-30.00"), D("-7.50"), D("-37.50"))
    with pytest.raises(InvoicingError, match="credited in full"):
        invoicing.issue_credit_note(march_invoice, gross=D("0.01"), reason="Once more")


@pytest.mark.django_db
def test_partial_credit_is_shared_over_the_vat_rates_by_their_gross(driver):
    account = driver_account(driver)
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="100.00", vat="25.00")
    priced(account, stopped_at=utc(2026, 3, 4, 12), net="100.00", vat="12.00", vat_rate="12")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)  # 125.00 + 112.00 = 237.00

    note = invoicing.issue_credit_note(invoice, gross=D("100.00"), reason="Goodwill")

    # 100 x 125 / 237 = 52.7426..., 100 x 112 / 237 = 47.2573...: floors 52.74 + 47.25 =
    # 99.99; the last öre to the larger remainder (0.0073 > 0.0026): 47.26.
    # 25 %: VAT 52.74 x 25 / 125 = 10.548 -> 10.55, net 42.19
    # 12 %: VAT 47.26 x 12 / 112 = 5.0635... -> 5.06, net 42.20
    rows = [(line.vat_rate, line.net, line.vat, line.gross) for line in note.lines.all()]
    assert rows == [
        (D("25.00"), D("-42.19"), D("-10.55"), D("-52.74")),
        (D("12.00"), D("-42.20"), D("-5.06"), D("-47.26")),
    ]
    assert amounts(note) == (D("-84.39"), D("-15.61"), D("-100.00"))


@pytest.mark.django_db
def test_crediting_more_than_is_left_is_refused(march_invoice):
    invoicing.issue_credit_note(march_invoice, gross=D("40.00"), reason="Goodwill")
    with pytest.raises(InvoicingError, match=r"Only 10\.00 SEK of F-000001"):
        invoicing.issue_credit_note(march_invoice, gross=D("10.01"), reason="Too much")
    assert Invoice.objects.filter(kind=Kind.CREDIT_NOTE).count() == 1


@pytest.mark.django_db
def test_a_credit_note_cannot_be_credited(march_invoice):
    note = invoicing.issue_credit_note(march_invoice, gross=D("5.00"), reason="Goodwill")
    with pytest.raises(InvoicingError, match="credit the document it corrects"):
        invoicing.issue_credit_note(note, reason="Undo")


@pytest.mark.django_db
def test_a_receipt_can_be_credited(driver):
    receipt = invoicing.issue_receipt(paid(driver_account(driver)))
    note = invoicing.issue_credit_note(receipt, gross=D("5.00"), reason="Slow charging")
    # VAT = 5.00 x 25 / 125 = 1.00
    assert (note.corrects, amounts(note)) == (receipt, (D("-4.00"), D("-1.00"), D("-5.00")))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("gross", "reason", "message"),
    [
        (D("5.00"), "   ", "Say why"),
        (D("0"), "Goodwill", "more than 0"),
        (D("-5.00"), "Goodwill", "more than 0"),
        (D("1.005"), "Goodwill", "two decimals"),
        (D("NaN"), "Goodwill", "more than 0"),
        (5.0, "Goodwill", "number"),
        ("5", "Goodwill", "number"),
    ],
)
def test_bad_credit_requests_are_refused_with_a_reason(march_invoice, gross, reason, message):
    with pytest.raises(InvoicingError, match=message):
        invoicing.issue_credit_note(march_invoice, gross=gross, reason=reason)
    assert not Invoice.objects.filter(kind=Kind.CREDIT_NOTE).exists()


# --- Email ---


@pytest.mark.django_db
def test_email_sends_the_pdf_to_the_buyer_and_notes_when(
    march_invoice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        assert documents.email_document(march_invoice) is True
    [message] = mailoutbox
    assert message.to == [march_invoice.buyer_email]
    assert "F-000001" in message.subject
    assert message.reply_to == [settings.BILLING_SELLER["email"]]
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == ("F-000001.pdf", "application/pdf")
    assert content.startswith(b"%PDF-")
    assert "50.00 SEK" in message.body.replace("\xa0", " ")
    march_invoice.refresh_from_db()
    assert march_invoice.emailed_at is not None


@pytest.mark.django_db
def test_no_email_without_an_address(mailoutbox):
    receipt = invoicing.issue_receipt(paid(None, method=SessionCharge.Method.GUEST))
    assert documents.email_document(receipt) is False
    assert mailoutbox == []
    receipt.refresh_from_db()
    assert receipt.emailed_at is None


@pytest.mark.django_db
def test_the_email_task_sends_a_document_once(
    march_invoice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        assert tasks.email_document(march_invoice.pk) is True
        assert tasks.email_document(march_invoice.pk) is False
        assert tasks.email_document(987654) is False
    assert len(mailoutbox) == 1


# --- Under concurrency (PostgreSQL) ---


class Rollback(Exception):
    pass


@POSTGRESQL_ONLY
def test_receipts_issued_at_once_are_numbered_without_gaps_or_duplicates(
    transactional_db, make_user
):
    account = driver_account(make_user())
    charges = [paid(account) for _ in range(12)]

    def issue(index):
        with transaction.atomic():
            receipt = invoicing.issue_receipt(charges[index])
            if index % 4 == 3:
                raise Rollback  # the caller's transaction fails after numbering
            return receipt.number

    results, errors = in_threads(len(charges), issue)

    assert {type(error) for error in errors.values()} == {Rollback}
    assert len(errors) == 3
    assert sorted(results.values()) == list(range(1, 10))
    assert sorted(Invoice.objects.values_list("number", flat=True)) == list(range(1, 10))
    assert InvoiceCounter.objects.get(series="K").last_number == 9


@POSTGRESQL_ONLY
def test_one_month_issued_by_two_workers_at_once_is_one_invoice(transactional_db, make_user):
    account = driver_account(make_user())
    for day in (2, 3, 4):
        priced(account, stopped_at=utc(2026, 3, day, 12), net="8.00", vat="2.00")

    results, errors = in_threads(4, lambda _: invoicing.issue_monthly_invoice(account, MARCH).pk)

    assert errors == {}
    assert len(set(results.values())) == 1
    invoice = Invoice.objects.get()
    assert (invoice.number, invoice.lines.count(), invoice.gross) == (1, 3, D("30.00"))


@POSTGRESQL_ONLY
def test_two_credits_at_once_cannot_credit_more_than_the_invoice(transactional_db, make_user):
    account = driver_account(make_user())
    priced(account, stopped_at=utc(2026, 3, 2, 12), net="40.00", vat="10.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)

    def credit(_):
        return invoicing.issue_credit_note(invoice, gross=D("30.00"), reason="Goodwill").pk

    results, errors = in_threads(2, credit)

    assert len(results) == 1
    [error] = errors.values()
    assert isinstance(error, InvoicingError)
    assert invoicing.uncredited_gross(invoice) == D("20.00")
