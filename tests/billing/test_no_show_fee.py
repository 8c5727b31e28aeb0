"""A booking's no-show fee is charged like a session (billing/no_show.py): by the booker's
payment method (wallet, card on file through localstripe, the monthly invoice), once,
with a receipt, and seen by the driver and by staff."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing import invoicing, no_show, settlement
from billing.models import (
    BillingAccount,
    CardPayment,
    Invoice,
    SessionCharge,
    Tariff,
    WalletEntry,
)
from billing.wallet import credit_wallet_manually, wallet_balance
from charging import bookings
from stations.authorization import id_tag_info
from stations.models import Booking, Connector, Reservation
from tests.billing.conftest import saved_card
from tests.billing.sessions import charging_site, finished_session, missed_booking, token_of

pytestmark = pytest.mark.django_db

Method = SessionCharge.Method
Status = SessionCharge.Status
D = Decimal


@pytest.fixture
def connector() -> Connector:
    """A site whose tariff asks a no-show fee of 20 SEK net (25 % VAT: 25.00 SEK)."""
    connector = charging_site(no_show_fee=D("20"))
    Tariff.objects.filter(assignments__site=connector.charge_point.site).update(name="Hamnen")
    return connector


def pays_by(user, method: str) -> BillingAccount:
    return BillingAccount.objects.create(user=user, payment_method=method)


def missed(driver, connector: Connector, *, ago: timedelta = timedelta(0)) -> Booking:
    """A slot the driver did not use; the charger's hold is over, so that ending the
    slot sends the charger nothing."""
    return missed_booking(driver, connector, ago=ago, hold=Reservation.Status.CANCELLED)


def end_slots(capture) -> int:
    """The minute's booking run, with what it leaves for after commit (the collection,
    the emails) done as the workers would."""
    with capture(execute=True):
        return bookings.end_due()


def receipts_sent(mailoutbox: list) -> list:
    """The emails with a document attached (the driver also hears that the slot ended)."""
    return [message for message in mailoutbox if message.attachments]


def fee_of(booking: Booking) -> SessionCharge:
    return SessionCharge.objects.select_related("document").get(booking=booking)


def test_wallet_payer_is_debited_once_and_emailed_a_receipt(
    connector, driver, staff, mailoutbox, django_capture_on_commit_callbacks
):
    pays_by(driver, BillingAccount.PaymentMethod.WALLET)
    credit_wallet_manually(driver, D(100), staff=staff, reason="Cash")
    booking = missed(driver, connector)

    assert end_slots(django_capture_on_commit_callbacks) == 1

    fee = fee_of(booking)
    assert (fee.method, fee.status) == (Method.WALLET, Status.PAID)
    assert (fee.net, fee.vat, fee.gross) == (D("20.00"), D("5.00"), D("25.00"))
    assert wallet_balance(driver) == D("75.00")
    debit = WalletEntry.objects.get(user=driver, kind=WalletEntry.Kind.DEBIT)
    assert (debit.amount, debit.reference) == (D("-25.00"), f"booking:{booking.pk}")
    receipt = fee.document
    assert (receipt.kind, receipt.gross, receipt.vat) == (Invoice.Kind.RECEIPT, D("25.00"), D("5"))
    assert receipt.payment_reference == f"wallet:{debit.pk}"
    [line] = receipt.lines.all()
    assert (line.booking_id, line.session_id, line.vat_rate) == (booking.pk, None, D("25.00"))
    assert line.charge_point == connector.charge_point.charge_point_id
    [email] = receipts_sent(mailoutbox)
    assert email.to == [driver.email]
    assert [name for name, _content, _type in email.attachments] == [
        f"{receipt.display_number}.pdf"
    ]


def test_card_payer_is_charged_off_session_with_a_receipt(
    stripe_configured, connector, driver, mailoutbox, django_capture_on_commit_callbacks
):
    pays_by(driver, BillingAccount.PaymentMethod.CARD)
    saved_card(driver)
    booking = missed(driver, connector)

    end_slots(django_capture_on_commit_callbacks)

    fee = fee_of(booking)
    assert (fee.method, fee.status) == (Method.CARD, Status.PAID)
    payment = CardPayment.objects.get(idempotency_key=f"booking:{booking.pk}:attempt:1")
    assert (payment.amount, payment.status) == (D("25.00"), "succeeded")
    assert payment.description.startswith("No-show fee, booking at ")
    assert fee.payment_reference == payment.payment_intent_id
    assert fee.document.payment_reference == payment.payment_intent_id
    assert [email.to for email in receipts_sent(mailoutbox)] == [[driver.email]]
    assert wallet_balance(driver) == 0


def test_declined_card_is_told_retried_and_blocks_like_a_session(
    stripe_configured, connector, driver, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.BILLING_PAYMENT_RETRY_HOURS = [24]
    settings.BILLING_BLOCK_AFTER_FAILED_PAYMENTS = 1
    pays_by(driver, BillingAccount.PaymentMethod.CARD)
    saved_card(driver, "pm_card_chargeCustomerFail")
    booking = missed(driver, connector)

    before = timezone.now()
    end_slots(django_capture_on_commit_callbacks)

    fee = fee_of(booking)
    assert (fee.status, fee.failed_attempts, fee.document) == (Status.FAILED, 1, None)
    assert before + timedelta(hours=24) <= fee.next_attempt_at
    assert "declined" in fee.last_error.lower()
    # The driver hears it in their language (Swedish).
    subject = "Avgiften för din uteblivna bokning kunde inte betalas"
    [email] = [message for message in mailoutbox if message.subject == subject]
    assert email.to == [driver.email]
    assert "Vi kunde inte debitera ditt kort för avgiften" in email.body
    assert connector.charge_point.charge_point_id in email.body
    # Blocked after one failure here: the driver's tokens are refused until it is paid.
    assert id_tag_info(booking.id_token.uid, timezone.now())["status"] == "Blocked"

    # A working card; the retry pays, with a receipt, and the driver may charge again.
    saved_card(driver, "pm_card_visa")
    with django_capture_on_commit_callbacks(execute=True):
        assert settlement.retry_failed_payments(now=fee.next_attempt_at) == 1
    fee.refresh_from_db()
    assert (fee.status, fee.document.kind) == (Status.PAID, Invoice.Kind.RECEIPT)
    assert CardPayment.objects.get(idempotency_key=f"booking:{booking.pk}:attempt:2").status == (
        "succeeded"
    )
    assert id_tag_info(booking.id_token.uid, timezone.now())["status"] == "Accepted"


def test_postpaid_payer_gets_the_fee_as_a_line_of_the_monthly_invoice(
    connector, driver, mailoutbox, django_capture_on_commit_callbacks
):
    account = pays_by(driver, BillingAccount.PaymentMethod.INVOICE)
    session = finished_session(
        connector, token_of(driver), started_at=timezone.now() - timedelta(hours=3), wh=10_000
    )
    settlement.settle_session(session.pk)
    booking = missed(driver, connector, ago=timedelta(minutes=1))

    end_slots(django_capture_on_commit_callbacks)
    fee = fee_of(booking)
    assert (fee.method, fee.status) == (Method.INVOICE, Status.TO_INVOICE)
    assert receipts_sent(mailoutbox) == []  # nothing to pay now

    invoice, issued = invoicing.issue_invoice_now(account)

    assert issued
    lines = list(invoice.lines.order_by("position"))
    assert [(line.session_id, line.booking_id) for line in lines] == [
        (session.pk, None),
        (None, booking.pk),
    ]
    # In the account's invoice language (Swedish by default), with the tariff's name.
    assert lines[1].description == f"Avgift för utebliven ankomst, bokning {booking.pk}, Hamnen"
    assert (lines[1].vat_rate, lines[1].net, lines[1].vat, lines[1].gross) == (
        D("25.00"),
        D("20.00"),
        D("5.00"),
        D("25.00"),
    )
    # 10 kWh at 1 SEK net plus the fee, VAT as billing computes it per line.
    assert (invoice.net, invoice.vat, invoice.gross) == (D("30.00"), D("7.50"), D("37.50"))
    fee.refresh_from_db()
    assert (fee.status, fee.document) == (Status.INVOICED, invoice)


def test_the_no_show_rule_run_twice_charges_once(
    connector, driver, mailoutbox, django_capture_on_commit_callbacks
):
    pays_by(driver, BillingAccount.PaymentMethod.WALLET)
    booking = missed(driver, connector)

    assert end_slots(django_capture_on_commit_callbacks) == 1
    assert end_slots(django_capture_on_commit_callbacks) == 0
    # Charging the booking again (a late cancel racing the slot's end) finds the fee,
    # and the safety net finds nothing left to collect.
    with django_capture_on_commit_callbacks(execute=True):
        assert no_show.charge(booking) == fee_of(booking)
        settlement.settle_missed_sessions(now=timezone.now() + timedelta(hours=1))

    assert SessionCharge.objects.filter(booking=booking).count() == 1
    assert list(WalletEntry.objects.filter(user=driver).values_list("amount", "reference")) == [
        (D("-25.00"), f"booking:{booking.pk}")
    ]
    assert Invoice.objects.filter(kind=Invoice.Kind.RECEIPT).count() == 1
    assert len(receipts_sent(mailoutbox)) == 1
    booking.refresh_from_db()
    assert (booking.status, booking.fee_charged) == (Booking.Status.NO_SHOW, D("25.00"))


def test_a_fee_left_uncollected_is_collected_by_the_safety_net(connector, driver):
    pays_by(driver, BillingAccount.PaymentMethod.WALLET)
    booking = missed(driver, connector)
    bookings.end_due()  # the collection queued after commit never ran (broker down)
    assert fee_of(booking).status == Status.PENDING

    settlement.settle_missed_sessions(now=timezone.now() + timedelta(minutes=10))

    fee = fee_of(booking)
    assert (fee.status, fee.document.kind) == (Status.PAID, Invoice.Kind.RECEIPT)
    assert wallet_balance(driver) == D("-25.00")


@pytest.fixture
def paid_from_the_wallet(connector, driver, django_capture_on_commit_callbacks) -> Booking:
    """A missed booking whose fee the driver's wallet paid, with its receipt."""
    pays_by(driver, BillingAccount.PaymentMethod.WALLET)
    booking = missed(driver, connector)
    end_slots(django_capture_on_commit_callbacks)
    return booking


def test_the_driver_sees_the_fee_its_payment_and_its_receipt(
    paid_from_the_wallet, driver, driver_client
):
    booking = paid_from_the_wallet
    receipt = fee_of(booking).document
    api = APIClient()
    api.force_authenticate(driver)

    shown = api.get(f"/api/v1/me/bookings/{booking.pk}/").json()
    assert (shown["status"], shown["fee_charged"], shown["fee_status"], shown["fee_document"]) == (
        "no_show",
        "25.00",
        "paid",
        receipt.display_number,
    )
    documents = api.get("/api/v1/me/invoices/").json()
    assert receipt.display_number in str(documents)
    page = driver_client.get(reverse("portal:account")).content.decode()
    assert "Booking fees" in page or "Bokningsavgifter" in page
    assert reverse("billing:invoice-pdf", args=[receipt.pk]) in page
    pdf = driver_client.get(reverse("billing:invoice-pdf", args=[receipt.pk]))
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")


def test_staff_see_the_fee_and_refund_it_to_the_wallet(paid_from_the_wallet, driver, admin_client):
    booking = paid_from_the_wallet
    receipt = fee_of(booking).document

    listing = admin_client.get(reverse("admin:billing_sessioncharge_changelist"))
    assert str(booking) in listing.content.decode()
    response = admin_client.post(
        reverse("admin:billing_invoice_credit", args=[receipt.pk]),
        {"gross": "", "reason": "Charger was out of order"},
    )

    assert response.status_code == 302
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE, corrects=receipt)
    assert note.gross == D("-25.00")
    assert note.lines.get().booking_id == booking.pk
    assert wallet_balance(driver) == 0
