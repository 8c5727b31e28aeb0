"""The PDF of invoices, receipts and credit notes (billing/documents.py render_pdf),
read back as text with pypdf: what a customer reads, in their language, with å ä ö and
€ intact."""

import io
from datetime import date

import pytest
from pypdf import PdfReader

from billing import documents, invoicing
from billing.models import SessionCharge
from tests.billing.invoicing_data import (
    MARCH,
    D,
    connector,
    driver_account,
    fleet_account,
    paid,
    priced,
    utc,
)

pytestmark = pytest.mark.django_db
DASH = "\u2013"  # the en dash between two times
TIMES = "\u00d7"  # quantity times unit price


def pdf_text(pdf: bytes) -> str:
    """All pages' text; no-break spaces (thousands, before a currency) as spaces."""
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\xa0", " ")


def pdf_pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def font_names(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


@pytest.fixture
def euro_invoice(driver):
    """March in EUR for a Swedish-speaking driver: 25 % and 12 % VAT."""
    account = driver_account(
        driver,
        name="Åsa Öberg",
        email="asa@example.com",
        address="Ågatan 3\n411 04 Göteborg",
        language="sv",
    )
    where = connector("Göteborg Hamnen", "CP-HAMN-1")
    priced(
        account,
        at=where,
        stopped_at=utc(2026, 3, 14, 17, 20),  # 18:20 in Stockholm; started 17:05
        net="1234.56",
        vat="308.64",
        currency="EUR",
    )
    priced(
        account,
        at=where,
        stopped_at=utc(2026, 3, 20, 9, 0),
        minutes=30,
        kwh="4.000",
        net="100.00",
        vat="12.00",
        vat_rate="12",
        currency="EUR",
    )
    # net 1234.56 + 100.00 = 1334.56; VAT 308.64 + 12.00 = 320.64; total 1655.20
    return invoicing.issue_monthly_invoice(account, MARCH)


def test_swedish_invoice_has_swedish_numbers_and_keeps_a_o_and_euro(euro_invoice):
    text = pdf_text(documents.render_pdf(euro_invoice))

    assert "F-000001" in text
    assert "Moms" in text  # the catalog's Swedish for "VAT"
    for words in ("Åsa Öberg", "Ågatan 3", "411 04 Göteborg", "Göteborg Hamnen, CP-HAMN-1 #2"):
        assert words in text
    # Decimal comma, space between thousands, € after the amount.
    assert "1 234,56 €" in text
    assert "308,64 €" in text
    assert "1 334,56 €" in text
    assert "320,64 €" in text
    assert "1 655,20 €" in text
    assert "1,234.56" not in text
    # The session, in local time (CET), with its energy and duration.
    assert f"2026-03-14 17:05 {DASH} 2026-03-14 18:20" in text
    assert "12,345" in text
    assert f"2026-03-01 {DASH} 2026-03-31" in text


def test_english_invoice_has_english_numbers_and_the_same_letters(euro_invoice, driver):
    euro_invoice_en = euro_invoice
    account = euro_invoice.account
    account.language = "en"
    account.save()
    where = connector("Göteborg Hamnen")
    priced(account, at=where, stopped_at=utc(2026, 4, 2, 12), net="8.00", vat="2.00")
    april = invoicing.issue_monthly_invoice(account, date(2026, 4, 1))

    text = pdf_text(documents.render_pdf(april))
    assert "Invoice" in text
    assert "VAT" in text and "Moms" not in text
    assert "Åsa Öberg" in text and "Göteborg Hamnen" in text
    assert "10.00 SEK" in text

    # The March invoice stays Swedish: the language was fixed when it was issued.
    assert "Moms" in pdf_text(documents.render_pdf(euro_invoice_en))


def test_english_euro_amounts(driver):
    account = driver_account(driver, name="Örjan Ås", language="en")
    priced(
        account,
        stopped_at=utc(2026, 3, 3, 12),
        net="1234.56",
        vat="308.64",
        currency="EUR",
    )
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    text = pdf_text(documents.render_pdf(invoice))
    assert "1,234.56 €" in text
    assert "1,543.20 €" in text
    assert "Örjan Ås" in text


def test_each_line_shows_its_price_components(driver):
    account = driver_account(driver, language="sv")
    components = [
        {
            "description": "Energi",
            "quantity": "12.345",
            "unit": "kWh",
            "unit_price": "2.4500",
            "net": "30.25",
        },
        {
            "description": "Laddtid",
            "quantity": "75.000",
            "unit": "min",
            "unit_price": "0.0500",
            "net": "3.75",
        },
        {
            "description": "Startavgift",
            "quantity": "1.000",
            "unit": "session",
            "unit_price": "5.00",
            "net": "5.00",
        },
    ]
    # 30.25 + 3.75 + 5.00 = 39.00 net
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="39.00", vat="9.75", lines=components)
    invoice = invoicing.issue_monthly_invoice(account, MARCH)

    text = " ".join(pdf_text(documents.render_pdf(invoice)).split())

    assert f"Energi 12,345 kWh {TIMES} 2,45 = 30,25" in text
    assert f"Laddtid 75 min {TIMES} 0,05 = 3,75" in text
    assert "Startavgift = 5,00" in text  # a fee has no quantity to show
    assert "48,75 SEK" in text


def test_the_renderer_fetches_nothing():
    # Documents are self-contained; nothing printed on one can make WeasyPrint open a
    # file or a URL.
    fetcher = documents._no_fetching()
    for url in ("file:///etc/hostname", "http://127.0.0.1/", "data:text/plain,x"):
        with pytest.raises(ValueError, match="disallowed"):
            fetcher.fetch(url)


def test_every_glyph_comes_from_one_embedded_font_family(euro_invoice):
    # A font without € or å would make WeasyPrint fall back to another one, or print a
    # box: every font in the file is DejaVu Sans (subsets are named ABCDEF+DejaVu-Sans).
    names = font_names(documents.render_pdf(euro_invoice))
    assert names
    assert all("+DejaVu-Sans" in name for name in names), names


def test_vat_breakdown_has_a_row_per_rate(euro_invoice):
    text = pdf_text(documents.render_pdf(euro_invoice))
    assert "25 % 1 234,56 € 308,64 € 1 543,20 €" in text
    assert "12 % 100,00 € 12,00 € 112,00 €" in text


def test_invoice_shows_seller_buyer_due_date_and_how_to_pay(settings, make_user):
    account = fleet_account(
        name="Åkeri Öst AB",
        email="ekonomi@akeri.example",
        address="Industrivägen 5\n831 30 Östersund",
        org_number="556677-8899",
        vat_number="SE556677889901",
        language="en",
    )
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)

    text = pdf_text(documents.render_pdf(invoice))

    seller = settings.BILLING_SELLER
    for value in ("name", "org_number", "vat_number", "email", "bankgiro", "iban"):
        assert seller[value] in text, value
    for words in ("Åkeri Öst AB", "Industrivägen 5", "831 30 Östersund", "556677-8899"):
        assert words in text
    assert "SE556677889901" in text
    assert f"Due date {invoice.due_at.isoformat()}" in text
    assert "F-000001 as reference" in text


def test_the_pdf_shows_the_seller_as_it_was_when_issued(settings, euro_invoice):
    settings.BILLING_SELLER = {**settings.BILLING_SELLER, "name": "Renamed Holding AB"}
    text = pdf_text(documents.render_pdf(euro_invoice))
    assert "ChargeHub Demo AB" in text
    assert "Renamed Holding AB" not in text


def test_receipt_shows_when_and_how_it_was_paid(driver):
    account = driver_account(driver, name="Åsa Öberg", language="en")
    receipt = invoicing.issue_receipt(paid(account, payment_reference="pi_3Abc"))
    text = pdf_text(documents.render_pdf(receipt))
    assert "Receipt" in text and "K-000001" in text
    assert "2026-03-14 18:21" in text  # paid_at 17:21 UTC, in Stockholm time
    assert "pi_3Abc" in text
    assert "50.00 SEK" in text
    assert "Pay by" not in text  # nothing left to pay


def test_guest_receipt_without_a_name_still_renders(driver):
    receipt = invoicing.issue_receipt(paid(None, method=SessionCharge.Method.GUEST))
    text = pdf_text(documents.render_pdf(receipt))
    assert "K-000001" in text and "50.00 SEK" in text


def test_credit_note_shows_what_it_corrects_why_and_negative_amounts(driver):
    account = driver_account(driver, language="en")
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="40.00", vat="10.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    note = invoicing.issue_credit_note(
        invoice, gross=D("12.50"), reason=f"Laddaren var trasig {DASH} förlåt"
    )

    text = pdf_text(documents.render_pdf(note))

    assert "Credit note" in text and "KR-000001" in text
    assert "Corrects F-000001" in text
    assert f"Laddaren var trasig {DASH} förlåt" in text
    # 12.50 incl. 25 % VAT: 10.00 net + 2.50 VAT, negative.
    assert "-10.00 SEK" in text and "-2.50 SEK" in text and "-12.50 SEK" in text


def test_a_long_invoice_runs_over_several_pages_and_keeps_every_line(driver):
    account = driver_account(driver, language="en")
    where = connector("Kiruna Centrum")
    charges = [
        priced(
            account,
            at=where,
            stopped_at=utc(2026, 3, 1 + n % 28, 6 + n % 12, n),
            net="8.00",
            vat="2.00",
        )
        for n in range(40)
    ]
    invoice = invoicing.issue_monthly_invoice(account, MARCH)

    pdf = documents.render_pdf(invoice)

    pages = pdf_pages(pdf)
    assert pages >= 3
    text = pdf_text(pdf)
    for charge in charges:
        assert f"Charging session {charge.session_id}," in text
    assert f"1 / {pages}" in text and f"{pages} / {pages}" in text
    assert "400.00 SEK" in text  # 40 x (8.00 + 2.00)
