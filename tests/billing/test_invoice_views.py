"""GET /billing/invoices/<pk>.pdf (billing/views.py): the PDF for the driver whose
account it is, and for staff allowed to view invoices; 404 for everyone else, as if the
document did not exist."""

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from billing import invoicing
from billing.models import SessionCharge
from tests.billing.invoicing_data import MARCH, driver_account, fleet_account, paid, priced, utc

pytestmark = pytest.mark.django_db


def url(document) -> str:
    return reverse("billing:invoice-pdf", args=[document.pk])


@pytest.fixture
def receipt(driver):
    return invoicing.issue_receipt(paid(driver_account(driver, language="en")))


def test_the_url_is_the_documents_number_under_billing(receipt):
    assert url(receipt) == f"/billing/invoices/{receipt.pk}.pdf"


def test_owner_downloads_the_pdf(client, driver, receipt):
    client.force_login(driver)
    response = client.get(url(receipt))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="K-000001.pdf"'
    assert response.content.startswith(b"%PDF-")
    assert "private" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]


def test_another_driver_gets_404(client, make_user, receipt):
    client.force_login(make_user())
    assert client.get(url(receipt)).status_code == 404


def test_anonymous_visitor_is_sent_to_log_in(client, receipt):
    response = client.get(url(receipt))
    assert response.status_code == 302
    assert response["Location"] == f"{resolve_url(settings.LOGIN_URL)}?next={url(receipt)}"


def test_unknown_document_is_404(client, driver):
    client.force_login(driver)
    assert client.get("/billing/invoices/987654.pdf").status_code == 404


def test_staff_with_the_view_permission_download_any_document(client, make_user, receipt):
    clerk = make_user("billing.view_invoice", is_staff=True)
    client.force_login(clerk)
    assert client.get(url(receipt)).status_code == 200


def test_staff_without_the_permission_get_404(client, staff, receipt):
    client.force_login(staff)
    assert client.get(url(receipt)).status_code == 404


def test_the_permission_alone_without_staff_status_is_not_enough(client, make_user, receipt):
    someone = make_user("billing.view_invoice")
    client.force_login(someone)
    assert client.get(url(receipt)).status_code == 404


def test_superuser_downloads_any_document(admin_client, receipt):
    assert admin_client.get(url(receipt)).status_code == 200


def test_a_fleet_invoice_is_not_for_the_fleets_drivers(client, make_user):
    member = make_user()
    account = fleet_account()
    account.fleet.members.add(member)
    priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)
    client.force_login(member)
    assert client.get(url(invoice)).status_code == 404


def test_a_guest_receipt_is_for_no_driver(client, driver):
    receipt = invoicing.issue_receipt(paid(None, method=SessionCharge.Method.GUEST))
    client.force_login(driver)
    assert client.get(url(receipt)).status_code == 404


def test_an_inactive_owner_gets_nothing(client, driver, receipt):
    client.force_login(driver)
    driver.is_active = False
    driver.save()
    assert client.get(url(receipt)).status_code in (302, 404)


def test_only_get_and_head(client, driver, receipt):
    client.force_login(driver)
    assert client.post(url(receipt)).status_code == 405
    assert client.head(url(receipt)).status_code == 200
