"""The whole way from a charger to the money, as it runs in production.

A simulated OCPP 1.6 charger charges over a real WebSocket against a real server
process (`manage.py serve`, Celery tasks run in it as a worker would, Stripe at
localstripe, email written to files); the session ends up priced, on a PDF receipt or
invoice, and paid by card, debited from the wallet, or invoiced for the month.

The tariff: 2.50 SEK per kWh and a 5.00 SEK session fee, net; 25 % VAT. The sessions
deliver 12 kWh: 30.00 + 5.00 = 35.00 net, 8.75 VAT, 43.75 SEK to pay.
"""

import io
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
import stripe
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from billing import documents, guest, invoicing
from billing.models import (
    BillingAccount,
    GuestPayment,
    Invoice,
    SessionCharge,
    Tariff,
    TariffAssignment,
)
from billing.wallet import credit_wallet_manually, wallet_balance
from stations.models import Site
from tests.billing.conftest import SECRET_KEY, WEBHOOK_SECRET, saved_card
from tests.billing.guest_charging import (
    connector_of,
    pay_as_the_browser_would,
    received_at_stripe,
    report_status,
    start_transaction,
    stop_transaction,
)
from tests.conftest import PASSWORD, eventually, register
from tests.mail import has_pdf, mails_to
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken, User

GROSS = Decimal("43.75")


@pytest.fixture(scope="module")
def billing_server(start_mail_server, localstripe_url) -> tuple[str, Path]:
    """A server with Stripe (localstripe) configured; returns its URL and mail folder."""
    return start_mail_server(
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY="pk_test_chargehub",
        STRIPE_API_BASE=localstripe_url,
        DJSTRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        # The postpaid test replays a session from last month, as a charger that was
        # offline would; the default accepts 30 days.
        OCPP_MAX_QUEUED_MESSAGE_AGE=str(90 * 24 * 3600),
    )


def pdf_text(invoice: Invoice) -> str:
    reader = PdfReader(io.BytesIO(documents.render_pdf(invoice)))
    return "\n".join(page.extract_text() for page in reader.pages)


def receipts_to(folder: Path, address: str) -> list[EmailMessage]:
    """The mails with a PDF (receipts, invoices); drivers get notices besides."""
    return [message for message in mails_to(folder, address) if has_pdf(message)]


def set_up_charger(charge_point_id: str) -> None:
    site = Site.objects.create(name=f"Frihamnen {charge_point_id}", city="Göteborg")
    register(charge_point_id, PASSWORD, site=site)
    tariff = Tariff.objects.create(
        name="Göteborg standard", price_per_kwh=Decimal("2.50"), session_fee=Decimal(5)
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)


def set_up(charge_point_id: str, uid: str, method: str, language: str = "sv") -> User:
    set_up_charger(charge_point_id)
    driver = User.objects.create_user(f"{uid.lower()}@example.com", language=language)
    BillingAccount.objects.create(user=driver, payment_method=method)
    IdToken.objects.create(uid=uid, owner=driver)
    return driver


async def charge_12_kwh(
    charger, server: str, charge_point_id: str, uid: str, *, days_ago: int = 0
) -> int:
    started, stopped = ago(days=days_ago, minutes=50), ago(days=days_ago, minutes=5)
    async with charger(charge_point_id, server=server) as cp:
        answer = await send(
            cp,
            "StartTransaction",
            {"connectorId": 1, "idTag": uid, "meterStart": 100_000, "timestamp": iso(started)},
        )
        assert answer["idTagInfo"]["status"] == "Accepted"
        transaction_id = answer["transactionId"]
        await send(
            cp,
            "StopTransaction",
            {
                "transactionId": transaction_id,
                "meterStop": 112_000,
                "timestamp": iso(stopped),
                "idTag": uid,
            },
        )
        # The charger retransmits its stop after a reconnect: nothing is billed twice.
        await send(
            cp,
            "StopTransaction",
            {"transactionId": transaction_id, "meterStop": 112_000, "timestamp": iso(stopped)},
        )
    return transaction_id


def settled(transaction_id: int, status: str) -> SessionCharge | None:
    return (
        SessionCharge.objects.select_related("document", "session")
        .filter(session_id=transaction_id, status=status)
        .first()
    )


async def test_card_driver_session_is_priced_paid_by_card_and_receipted(
    billing_server, charger, stripe_configured, db_access
):
    server, mail = billing_server
    driver = await sync_to_async(set_up)("CP-PATH-CARD", "PATH-CARD", "card", language="en")
    await sync_to_async(saved_card)(driver)

    transaction_id = await charge_12_kwh(charger, server, "CP-PATH-CARD", "PATH-CARD")

    charge = await eventually(lambda: settled(transaction_id, "paid"), timeout=30)
    assert charge, "the session was not paid"
    assert (charge.net, charge.vat, charge.gross) == (Decimal("35.00"), Decimal("8.75"), GROSS)
    intent = stripe.PaymentIntent.retrieve(charge.payment_reference, api_key=SECRET_KEY)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 4375, "sek")
    receipt = charge.document
    text = await sync_to_async(pdf_text)(receipt)
    assert "Receipt" in text and receipt.display_number in text
    assert "CP-PATH-CARD" in text and "Frihamnen" in text
    assert "12" in text and "43.75" in text
    assert len(receipts_to(mail, driver.email)) == 1
    assert await sync_to_async(SessionCharge.objects.filter(session_id=transaction_id).count)() == 1


async def test_wallet_driver_session_is_debited_once_and_receipted(
    billing_server, charger, db_access
):
    server, mail = billing_server
    driver = await sync_to_async(set_up)("CP-PATH-WALLET", "PATH-WALLET", "wallet")
    staff = await sync_to_async(User.objects.create_user)("kassa@example.com", is_staff=True)
    await sync_to_async(credit_wallet_manually)(driver, Decimal(200), staff=staff, reason="Kontant")

    transaction_id = await charge_12_kwh(charger, server, "CP-PATH-WALLET", "PATH-WALLET")

    charge = await eventually(lambda: settled(transaction_id, "paid"), timeout=30)
    assert charge, "the session was not debited"
    assert await sync_to_async(wallet_balance)(driver) == Decimal(200) - GROSS
    text = await sync_to_async(pdf_text)(charge.document)
    assert "Kvitto" in text and "43,75" in text  # Swedish, decimal comma
    assert len(receipts_to(mail, driver.email)) == 1


async def test_postpaid_driver_session_lands_on_the_monthly_invoice(
    billing_server, charger, db_access
):
    server, _mail = billing_server
    driver = await sync_to_async(set_up)("CP-PATH-INVOICE", "PATH-INVOICE", "invoice")

    # Forty days ago is always in a month that is over, so its invoice can be issued.
    transaction_id = await charge_12_kwh(
        charger, server, "CP-PATH-INVOICE", "PATH-INVOICE", days_ago=40
    )

    charge = await eventually(lambda: settled(transaction_id, "to_invoice"), timeout=30)
    assert charge, "the session was not priced"
    month = timezone.localdate(charge.session.stopped_at).replace(day=1)
    account = await sync_to_async(BillingAccount.objects.get)(user=driver)
    invoice = await sync_to_async(invoicing.issue_monthly_invoice)(account, month)
    again = await sync_to_async(invoicing.issue_monthly_invoice)(account, month)
    assert again is None or again.pk == invoice.pk
    assert invoice.gross == GROSS
    text = await sync_to_async(pdf_text)(invoice)
    assert "Faktura" in text and invoice.display_number in text and "43,75" in text


async def test_guest_pays_at_the_qr_code_and_only_the_price_is_captured(
    billing_server, charger, stripe_configured, db_access
):
    server, mail = billing_server
    await sync_to_async(set_up_charger)("CP-PATH-GUEST")
    browser = Client()
    async with charger("CP-PATH-GUEST", server=server) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)("CP-PATH-GUEST")
        form = await sync_to_async(browser.post)(
            guest.guest_path(connector), {"email": "gast@example.com"}
        )
        assert form.status_code == 302
        guest_payment = await sync_to_async(GuestPayment.objects.get)(connector=connector)
        await sync_to_async(pay_as_the_browser_would)(guest_payment)
        status_page = reverse("guest:status", kwargs={"public_id": guest_payment.public_id})
        assert (await sync_to_async(browser.get)(status_page)).status_code == 200
        started = await start_transaction(cp, guest_payment.id_tag, meter_start=100_000)
        await stop_transaction(cp, started["transactionId"], 112_000)

    charge = await eventually(lambda: settled(started["transactionId"], "paid"), timeout=30)
    assert charge, "the guest's session was not captured"
    assert charge.gross == GROSS
    # 300 SEK were held; 43.75 taken, the rest released.
    assert await sync_to_async(received_at_stripe)(guest_payment) == 4375
    text = await sync_to_async(pdf_text)(charge.document)
    assert charge.document.display_number in text and "43.75" in text  # the page's English
    assert len(mails_to(mail, "gast@example.com")) == 1
