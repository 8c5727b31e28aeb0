"""Money back: every refund is a credit note first, then the payment is returned.

The credit note (billing/invoicing.py) is the legal record and is issued in our
database before any money moves; the money then goes back the way the document was
paid: a card payment (a PaymentIntent: the driver's card or a guest's) by a Stripe
Refund, a wallet debit as a wallet refund. Both are keyed on the credit note, so a
retry after a timeout never pays back twice (`pay_back` can be called again until
`refund_reference` is set). An unpaid invoice needs no money back: the credit note
lowers what is owed. A document paid by bank transfer is paid back by hand.
"""

from decimal import Decimal

import stripe
from django.utils.translation import gettext as _

from billing import invoicing, payments, wallet
from billing.models import Invoice
from users.models import User

WALLET_PREFIX = "wallet:"
PAYMENT_INTENT_PREFIX = "pi_"


class RefundError(ValueError):
    """The money cannot be returned as asked; str() is for staff."""


def refund(
    invoice: Invoice, *, gross: Decimal | None = None, reason: str, issued_by: User | None
) -> Invoice:
    """Credit `gross` SEK of an invoice or receipt (all that is left when None) and pay
    it back; returns the credit note."""
    credit_note = invoicing.issue_credit_note(
        invoice, gross=gross, reason=reason, issued_by=issued_by
    )
    return pay_back(credit_note)


def pay_back(credit_note: Invoice) -> Invoice:
    """Return the credit note's amount the way its invoice was paid; idempotent."""
    if credit_note.kind != Invoice.Kind.CREDIT_NOTE:
        raise RefundError(_("Only a credit note can be paid back."))
    if credit_note.refund_reference:
        return credit_note
    original = credit_note.corrects
    if original.paid_at is None:
        return credit_note
    amount = -credit_note.gross
    paid_with = original.payment_reference
    if paid_with.startswith(WALLET_PREFIX):
        if original.account is None or original.account.user is None:
            raise RefundError(_("The wallet of this document's buyer is not known."))
        entry = wallet.refund_to_wallet(
            original.account.user, amount, f"credit_note:{credit_note.pk}"
        )
        reference = f"{WALLET_PREFIX}{entry.pk}"
    elif paid_with.startswith(PAYMENT_INTENT_PREFIX):
        try:
            stripe_refund = stripe.Refund.create(
                payment_intent=paid_with,
                amount=payments.to_minor_units(amount),
                metadata={"credit_note": credit_note.display_number},
                idempotency_key=f"refund:credit_note:{credit_note.pk}",
                api_key=payments.stripe_api_key(),
            )
        except payments.PaymentsNotConfigured as error:
            raise RefundError(str(error)) from error
        except stripe.StripeError as error:
            raise RefundError(
                _("Stripe did not refund %(number)s: %(error)s")
                % {"number": credit_note.display_number, "error": error.user_message or error}
            ) from error
        reference = stripe_refund.id
    else:
        raise RefundError(
            _("%(number)s was not paid by card or wallet: pay %(amount)s back by hand.")
            % {"number": original.display_number, "amount": amount}
        )
    credit_note.refund_reference = reference
    credit_note.save(update_fields=["refund_reference"])
    return credit_note
