"""A payment case's refund (operations/support.py refund(), the admin's action): the
session's amount is credited, then paid back the way it was paid; a card against a real
Stripe imitation (localstripe, tests/billing/conftest.py)."""

from decimal import Decimal

import pytest
import stripe
from django.contrib.messages import get_messages
from django.urls import reverse

from billing import invoicing, settlement
from billing.models import BillingAccount, Invoice
from operations import support
from operations.models import SupportCase
from tests.billing.conftest import (  # noqa: F401  fixtures
    SECRET_KEY,
    localstripe_url,
    saved_card,
    stripe_configured,
)
from tests.billing.invoicing_data import MARCH, driver_account, priced, utc
from tests.billing.sessions import token_of
from tests.operations.support_data import session_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(make_user):
    return make_user("billing.add_invoice", "operations.view_supportcase", is_staff=True)


def card_paid_case(driver) -> SupportCase:
    """A payment case about a session paid by the driver's saved card (25.00 SEK)."""
    saved_card(driver)
    BillingAccount.objects.update_or_create(user=driver, defaults={"payment_method": "card"})
    session = session_of(driver, wh=20_000)
    settlement.settle_session(session.pk)
    return support.report(driver, category="payment", message="Charged twice", session=session)


def test_a_card_payment_case_is_refunded_at_stripe(stripe_configured, driver, finance):  # noqa: F811
    case = card_paid_case(driver)
    receipt = case.session.charge.document

    note = support.refund(case, reason="Charged twice", by=finance)

    assert note.gross == Decimal("-25.00")
    assert note.refund_reference.startswith("re_")
    refunds = stripe.Refund.list(payment_intent=receipt.payment_reference, api_key=SECRET_KEY)
    assert [refund.amount for refund in refunds] == [2500]


def test_when_stripe_cannot_pay_back_the_credit_note_stays_on_the_case(
    stripe_configured,  # noqa: F811
    driver,
    finance,
    settings,
    client,
):
    case = card_paid_case(driver)
    settings.STRIPE_SECRET_KEY = ""  # Stripe out of reach
    client.force_login(finance)

    response = client.post(
        reverse("admin:operations_supportcase_changelist"),
        {"action": "refund_cases", "_selected_action": [case.pk], "post": "yes", "reason": "x"},
    )

    assert response.status_code == 302
    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    case.refresh_from_db()
    assert (case.credit_note, note.refund_reference) == (note, "")
    [message] = get_messages(response.wsgi_request)
    assert "not configured" in str(message) and message.level_tag == "warning"
    # Paid back later from the invoice admin ("Pay back credit notes not yet paid back").


def test_a_session_on_a_monthly_invoice_is_credited_for_its_own_amount_only(driver, finance):
    account = driver_account(driver)
    mine = priced(account, stopped_at=utc(2026, 3, 3, 12), net="8.00", vat="2.00")
    priced(account, stopped_at=utc(2026, 3, 4, 12), net="40.00", vat="10.00")
    invoice = invoicing.issue_monthly_invoice(account, MARCH)  # 60.00, not paid yet
    mine.session.id_token = token_of(driver)
    mine.session.save(update_fields=["id_token"])
    case = support.report(driver, category="payment", message="Wrong", session=mine.session)

    note = support.refund(case, reason="Wrong price", by=finance)

    assert (note.corrects, note.gross) == (invoice, Decimal("-10.00"))
    assert note.refund_reference == ""  # the invoice was not paid: it is owed less
    assert invoicing.uncredited_gross(invoice) == Decimal("50.00")
