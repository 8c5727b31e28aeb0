"""Invoices in admin (billing/admin.py InvoiceAdmin): read-only, a PDF link, "Email
again", and the credit form that issues a credit note."""

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from billing import invoicing
from billing.models import Invoice
from tests.billing.invoicing_data import MARCH, D, driver_account, priced, utc

pytestmark = pytest.mark.django_db
Kind = Invoice.Kind


@pytest.fixture
def invoice(driver):
    account = driver_account(driver, name="Åsa Öberg", email="asa@example.com", language="en")
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="30.00", vat="7.50")
    priced(account, stopped_at=utc(2026, 3, 4, 12), net="10.00", vat="2.50")
    return invoicing.issue_monthly_invoice(account, MARCH)  # 50.00 incl. VAT


def change_url(document: Invoice) -> str:
    return reverse("admin:billing_invoice_change", args=[document.pk])


def credit_url(document: Invoice) -> str:
    return reverse("admin:billing_invoice_credit", args=[document.pk])


@pytest.fixture
def clerk(make_user):
    """Staff who may look at invoices, and nothing more."""
    return make_user("billing.view_invoice", is_staff=True)


def test_list_shows_documents_with_their_pdf(admin_client, invoice):
    response = admin_client.get(reverse("admin:billing_invoice_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "F-000001" in page and "Åsa Öberg" in page
    assert reverse("billing:invoice-pdf", args=[invoice.pk]) in page


def test_search_by_the_printed_number(admin_client, invoice, driver):
    other = invoicing.issue_monthly_invoice(
        driver_account(driver.__class__.objects.create_user("bo@example.com")), MARCH
    )
    assert other is None  # Bo had nothing to invoice
    response = admin_client.get(reverse("admin:billing_invoice_changelist"), {"q": "f-000001"})
    assert list(response.context["cl"].result_list) == [invoice]


def test_a_document_is_shown_read_only_with_its_lines(admin_client, invoice):
    response = admin_client.get(change_url(invoice))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="_save"' not in page
    assert "Charging session" in page  # the lines, inline
    assert "25.00 %: 40.00 + 10.00 = 50.00 SEK" in page  # VAT per rate
    assert reverse("billing:invoice-pdf", args=[invoice.pk]) in page
    assert credit_url(invoice) in page


def test_documents_cannot_be_added_changed_or_deleted_in_admin(admin_client, invoice):
    assert admin_client.get(reverse("admin:billing_invoice_add")).status_code == 403
    delete = reverse("admin:billing_invoice_delete", args=[invoice.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    admin_client.post(change_url(invoice), {"buyer_name": "Someone else"})
    invoice.refresh_from_db()
    assert invoice.buyer_name == "Åsa Öberg"


def test_email_again_sends_each_selected_document(
    admin_client, invoice, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        response = admin_client.post(
            reverse("admin:billing_invoice_changelist"),
            {"action": "email_again", "_selected_action": [invoice.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert [message.to for message in mailoutbox] == [["asa@example.com"]]
    assert mailoutbox[0].attachments[0][0] == "F-000001.pdf"
    invoice.refresh_from_db()
    assert invoice.emailed_at is not None
    assert "1 document(s) emailed." in response.content.decode()


def test_staff_who_may_only_view_can_email_again_but_not_credit(
    client, clerk, invoice, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(clerk)
    page = client.get(change_url(invoice)).content.decode()
    assert credit_url(invoice) not in page
    assert client.get(credit_url(invoice)).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        client.post(
            reverse("admin:billing_invoice_changelist"),
            {"action": "email_again", "_selected_action": [invoice.pk]},
        )
    assert len(mailoutbox) == 1


def test_credit_form_shows_what_is_left(admin_client, invoice):
    invoicing.issue_credit_note(invoice, gross=D("12.50"), reason="Goodwill")
    response = admin_client.get(credit_url(invoice))
    assert response.status_code == 200
    assert response.context["left"] == D("37.50")
    assert "37.50" in response.content.decode()


def test_a_partial_credit_from_admin(
    admin_client, admin_user, invoice, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            credit_url(invoice), {"gross": "12.50", "reason": "Charger was slow"}
        )

    note = Invoice.objects.get(kind=Kind.CREDIT_NOTE)
    assert response.status_code == 302
    assert response["Location"] == change_url(note)
    assert (note.corrects, note.gross, note.vat) == (invoice, D("-12.50"), D("-2.50"))
    assert (note.note, note.issued_by) == ("Charger was slow", admin_user)
    entry = LogEntry.objects.get(object_id=str(note.pk))
    assert (entry.action_flag, entry.user) == (ADDITION, admin_user)
    # The customer gets the credit note by email (billing.tasks.email_document).
    assert [message.attachments[0][0] for message in mailoutbox] == ["KR-000001.pdf"]


def test_an_empty_amount_credits_everything_left(admin_client, invoice):
    admin_client.post(credit_url(invoice), {"gross": "", "reason": "Contract ended"})
    note = Invoice.objects.get(kind=Kind.CREDIT_NOTE)
    assert note.gross == D("-50.00")
    assert note.lines.count() == 2


def test_too_large_a_credit_is_refused_on_the_form(admin_client, invoice):
    response = admin_client.post(credit_url(invoice), {"gross": "50.01", "reason": "Oops"})
    assert response.status_code == 200
    assert "Only 50.00 SEK of F-000001 is left to credit" in response.content.decode()
    assert not Invoice.objects.filter(kind=Kind.CREDIT_NOTE).exists()


@pytest.mark.parametrize(
    "data", [{"gross": "5", "reason": ""}, {"gross": "-5", "reason": "x"}, {"gross": "1.005"}]
)
def test_bad_credit_input_shows_the_form_again(admin_client, invoice, data):
    response = admin_client.post(credit_url(invoice), data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Invoice.objects.filter(kind=Kind.CREDIT_NOTE).exists()


def test_a_credit_note_offers_no_credit(admin_client, invoice):
    note = invoicing.issue_credit_note(invoice, gross=D("5.00"), reason="Goodwill")
    assert credit_url(note) not in admin_client.get(change_url(note)).content.decode()
    response = admin_client.post(credit_url(note), {"gross": "1.00", "reason": "Undo"})
    assert response.status_code == 200
    assert "A credit note cannot be credited" in response.content.decode()
    assert Invoice.objects.filter(kind=Kind.CREDIT_NOTE).count() == 1


def test_crediting_an_unknown_document_is_404(admin_client):
    assert admin_client.get("/admin/billing/invoice/987654/credit/").status_code == 404
