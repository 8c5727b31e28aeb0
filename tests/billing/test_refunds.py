"""billing/refunds.py: money back is a credit note first, then the payment returned the
way it was made (Stripe refund, wallet refund), once."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import stripe
from django.utils import timezone

from billing import invoicing, refunds, settlement
from billing.models import BillingAccount, Invoice, WalletEntry
from billing.wallet import credit_wallet_manually, wallet_balance
from tests.billing.conftest import SECRET_KEY, saved_card
from tests.billing.sessions import charging_site, finished_session, token_of

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 3, 10, 8, tzinfo=UTC)


def paid_receipt(driver, method: str, wh: int = 10_000) -> Invoice:
    BillingAccount.objects.update_or_create(user=driver, defaults={"payment_method": method})
    session = finished_session(charging_site(), token_of(driver), started_at=STARTED, wh=wh)
    charge = settlement.settle_session(session.pk)
    charge.refresh_from_db()
    assert charge.document is not None, charge.last_error
    return charge.document


def stripe_refunds(payment_intent_id: str) -> list[int]:
    return [
        refund.amount
        for refund in stripe.Refund.list(payment_intent=payment_intent_id, api_key=SECRET_KEY)
    ]


def test_full_refund_of_a_wallet_receipt_credits_the_wallet_with_a_credit_note(driver, staff):
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    receipt = paid_receipt(driver, "wallet")  # 12.50 SEK
    assert wallet_balance(driver) == Decimal("87.50")

    credit_note = refunds.refund(receipt, reason="Charger fault", issued_by=staff)

    assert credit_note.kind == Invoice.Kind.CREDIT_NOTE
    assert credit_note.corrects == receipt
    assert (credit_note.net, credit_note.vat, credit_note.gross) == (
        Decimal("-10.00"),
        Decimal("-2.50"),
        Decimal("-12.50"),
    )
    assert wallet_balance(driver) == Decimal("100.00")
    refund_entry = WalletEntry.objects.get(kind=WalletEntry.Kind.REFUND)
    assert credit_note.refund_reference == f"wallet:{refund_entry.pk}"


def test_partial_refunds_of_a_card_receipt_are_refunded_at_stripe_up_to_the_total(
    stripe_configured, driver, staff
):
    saved_card(driver)
    receipt = paid_receipt(driver, "card", wh=20_000)  # 25.00 SEK
    payment_intent = receipt.payment_reference

    first = refunds.refund(receipt, gross=Decimal("5.00"), reason="Slow", issued_by=staff)
    second = refunds.refund(receipt, gross=Decimal("20.00"), reason="Fault", issued_by=staff)

    assert first.gross == Decimal("-5.00")
    assert second.gross == Decimal("-20.00")
    assert first.refund_reference.startswith("re_")
    assert sorted(stripe_refunds(payment_intent)) == [500, 2000]
    with pytest.raises(ValueError):
        refunds.refund(receipt, gross=Decimal("0.01"), reason="More", issued_by=staff)
    assert sorted(stripe_refunds(payment_intent)) == [500, 2000]


def test_paying_back_again_after_a_timeout_refunds_once(stripe_configured, driver, staff):
    saved_card(driver)
    receipt = paid_receipt(driver, "card", wh=20_000)
    credit_note = refunds.refund(receipt, reason="Fault", issued_by=staff)

    again = refunds.pay_back(Invoice.objects.get(pk=credit_note.pk))

    assert again.refund_reference == credit_note.refund_reference
    assert stripe_refunds(receipt.payment_reference) == [2500]


def test_credit_note_is_kept_when_stripe_is_not_reachable_and_paid_back_later(
    stripe_configured, driver, staff, settings
):
    saved_card(driver)
    receipt = paid_receipt(driver, "card", wh=20_000)
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(refunds.RefundError, match="not configured"):
        refunds.refund(receipt, reason="Fault", issued_by=staff)

    credit_note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE, corrects=receipt)
    assert credit_note.refund_reference == ""
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    refunds.pay_back(credit_note)
    assert stripe_refunds(receipt.payment_reference) == [2500]


def test_unpaid_invoice_is_credited_without_moving_money(driver, staff):
    BillingAccount.objects.create(user=driver, payment_method="invoice")
    session = finished_session(charging_site(), token_of(driver), started_at=STARTED, wh=10_000)
    settlement.settle_session(session.pk)
    invoice = invoicing.issue_monthly_invoice(
        BillingAccount.objects.get(user=driver), date(2026, 3, 1)
    )

    credit_note = refunds.refund(invoice, reason="Goodwill", issued_by=staff)

    assert credit_note.gross == -invoice.gross
    assert credit_note.refund_reference == ""
    assert not WalletEntry.objects.exists()


def test_invoice_paid_by_bank_transfer_is_paid_back_by_hand(driver, staff):
    BillingAccount.objects.create(user=driver, payment_method="invoice")
    session = finished_session(charging_site(), token_of(driver), started_at=STARTED, wh=10_000)
    settlement.settle_session(session.pk)
    invoice = invoicing.issue_monthly_invoice(
        BillingAccount.objects.get(user=driver), date(2026, 3, 1)
    )
    invoice.paid_at = timezone.now()
    invoice.payment_reference = "Bankgiro 2026-04-12"
    invoice.save(update_fields=["paid_at", "payment_reference"])

    with pytest.raises(refunds.RefundError, match="by hand"):
        refunds.refund(invoice, gross=Decimal("5.00"), reason="Goodwill", issued_by=staff)

    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE, corrects=invoice).count() == 1


def test_only_credit_notes_are_paid_back(driver, staff):
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    receipt = paid_receipt(driver, "wallet")
    with pytest.raises(refunds.RefundError):
        refunds.pay_back(receipt)
