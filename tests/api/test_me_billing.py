"""/api/v1/me/invoices/ and /api/v1/me/wallet/: a driver's documents and money."""

from decimal import Decimal

import pytest

from billing import invoicing
from billing.models import BillingAccount, WalletEntry
from billing.wallet import debit_wallet, record_topup
from tests.billing.invoicing_data import driver_account, paid

pytestmark = pytest.mark.django_db


def receipt_of(user):
    return invoicing.issue_receipt(paid(driver_account(user)))


def test_anonymous_gets_401(anonymous):
    for url in ["/api/v1/me/invoices/", "/api/v1/me/wallet/", "/api/v1/me/wallet/entries/"]:
        assert anonymous.get(url).status_code == 401, url


def test_a_driver_lists_their_own_documents(as_driver, driver, other_driver):
    mine = receipt_of(driver)
    receipt_of(other_driver)

    results = as_driver.get("/api/v1/me/invoices/").json()["results"]

    assert [document["id"] for document in results] == [mine.pk]
    assert results[0]["number"] == mine.display_number
    assert results[0]["kind"] == "receipt"
    assert results[0]["gross"] == "50.00"


def test_the_pdf_of_an_own_document(as_driver, driver):
    receipt = receipt_of(driver)

    response = as_driver.get(f"/api/v1/me/invoices/{receipt.pk}/pdf/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert f"{receipt.display_number}.pdf" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]


def test_the_pdf_when_the_client_asks_for_one(as_driver, driver):
    receipt = receipt_of(driver)

    response = as_driver.get(
        f"/api/v1/me/invoices/{receipt.pk}/pdf/", headers={"Accept": "application/pdf"}
    )

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_another_drivers_document_is_not_found(as_driver, other_driver):
    theirs = receipt_of(other_driver)

    assert as_driver.get(f"/api/v1/me/invoices/{theirs.pk}/").status_code == 404
    assert as_driver.get(f"/api/v1/me/invoices/{theirs.pk}/pdf/").status_code == 404


def test_wallet_balance_and_entries(as_driver, driver, other_driver):
    record_topup(driver, Decimal("200"), "pi_api_1")
    debit_wallet(driver, Decimal("35.50"), "session:api-1")
    record_topup(other_driver, Decimal("999"), "pi_api_2")

    wallet = as_driver.get("/api/v1/me/wallet/").json()
    entries = as_driver.get("/api/v1/me/wallet/entries/").json()

    assert wallet == {
        "currency": "SEK",
        "balance": "164.50",
        "minimum_to_start": "50.00",
        "refusal": None,
    }
    assert entries["count"] == 2
    assert [(e["kind"], e["amount"]) for e in entries["results"]] == [
        ("debit", "-35.50"),
        ("topup", "200.00"),
    ]
    assert WalletEntry.objects.count() == 3


def test_wallet_says_why_money_stops_a_start(as_driver, driver):
    BillingAccount.objects.create(user=driver, payment_method=BillingAccount.PaymentMethod.WALLET)
    record_topup(driver, Decimal("10"), "pi_api_3")

    refusal = as_driver.get("/api/v1/me/wallet/").json()["refusal"]

    assert "10.00 SEK" in refusal
