from decimal import Decimal

import pytest
import stripe
from djstripe.models import Customer

from billing.models import CardPayment
from billing.payments import (
    CardDeclined,
    NoCardOnFile,
    PaymentError,
    PaymentsNotConfigured,
    card_saved,
    charge_off_session,
    default_card,
    ensure_customer,
    save_card,
    to_minor_units,
    top_up_wallet,
)
from billing.wallet import wallet_balance
from tests.billing.conftest import SECRET_KEY, saved_card


def intents_of(customer_id):
    intents = stripe.PaymentIntent.list(api_key=SECRET_KEY, limit=100).auto_paging_iter()
    return [intent for intent in intents if intent.customer == customer_id]


def test_card_features_say_clearly_that_stripe_is_not_configured(stripe_not_configured, driver):
    for attempt in (
        lambda: ensure_customer(driver),
        lambda: save_card(driver),
        lambda: charge_off_session(driver, Decimal("50"), "Session 1", "charge:1"),
        lambda: top_up_wallet(driver, Decimal("100")),
    ):
        with pytest.raises(PaymentsNotConfigured, match="STRIPE_SECRET_KEY is not set"):
            attempt()
    assert not CardPayment.objects.exists()
    assert not Customer.objects.exists()


def test_each_driver_has_one_stripe_customer(stripe_configured, driver):
    customer = ensure_customer(driver)
    assert ensure_customer(driver).id == customer.id
    assert customer.subscriber == driver
    at_stripe = stripe.Customer.retrieve(customer.id, api_key=SECRET_KEY)
    assert at_stripe.email == driver.email
    assert at_stripe.metadata["djstripe_subscriber"] == str(driver.pk)


def test_save_card_starts_a_setup_intent_for_off_session_use(stripe_configured, driver):
    setup_intent = save_card(driver)
    assert setup_intent.status == "requires_payment_method"
    assert setup_intent.usage == "off_session"
    assert setup_intent.customer == ensure_customer(driver).id
    assert setup_intent.client_secret


def test_card_confirmed_on_the_setup_intent_becomes_the_card_charged(stripe_configured, driver):
    setup_intent = save_card(driver)
    stripe.SetupIntent.confirm(setup_intent.id, payment_method="pm_card_visa", api_key=SECRET_KEY)
    payment_method = card_saved(setup_intent.id)
    assert payment_method and payment_method.startswith("pm_")
    assert default_card(driver) == payment_method
    card = stripe.PaymentMethod.retrieve(payment_method, api_key=SECRET_KEY)
    assert card.customer == ensure_customer(driver).id
    assert card.card.last4 == "4242"


def test_setup_intent_not_yet_confirmed_saves_no_card(stripe_configured, driver):
    setup_intent = save_card(driver)
    assert card_saved(setup_intent.id) is None
    assert default_card(driver) is None


def test_charge_off_session_charges_the_saved_card_in_ore(stripe_configured, driver):
    payment_method = saved_card(driver)
    intent = charge_off_session(driver, Decimal("123.45"), "Charging at Depot 1", "session:1")
    assert intent.status == "succeeded"
    assert (intent.amount, intent.currency) == (12345, "sek")
    assert intent.payment_method == payment_method
    assert intent.description == "Charging at Depot 1"
    payment = CardPayment.objects.get(idempotency_key="session:1")
    assert (payment.user, payment.purpose, payment.amount) == (driver, "charge", Decimal("123.45"))
    assert (payment.payment_intent_id, payment.status) == (intent.id, "succeeded")


def test_charge_amount_is_rounded_to_whole_ore_half_up(stripe_configured, driver):
    saved_card(driver)
    intent = charge_off_session(driver, Decimal("99.995"), "Session", "session:2")
    assert intent.amount == 10000
    assert (to_minor_units(Decimal("10.004")), to_minor_units(Decimal("10.005"))) == (1000, 1001)


def test_charge_with_the_same_idempotency_key_charges_once(stripe_configured, driver):
    saved_card(driver)
    first = charge_off_session(driver, Decimal("80"), "Session", "session:3")
    again = charge_off_session(driver, Decimal("80"), "Session", "session:3")
    assert again.id == first.id
    assert len(intents_of(ensure_customer(driver).id)) == 1
    assert CardPayment.objects.count() == 1


def test_idempotency_key_reused_for_another_amount_is_refused(stripe_configured, driver):
    saved_card(driver)
    charge_off_session(driver, Decimal("80"), "Session", "session:4")
    with pytest.raises(PaymentError, match="session:4"):
        charge_off_session(driver, Decimal("81"), "Session", "session:4")
    assert len(intents_of(ensure_customer(driver).id)) == 1


def test_charge_without_a_saved_card_says_so(stripe_configured, driver):
    with pytest.raises(NoCardOnFile, match="No card"):
        charge_off_session(driver, Decimal("50"), "Session", "session:5")
    assert intents_of(ensure_customer(driver).id) == []


def test_declined_charge_raises_and_a_retry_with_the_same_key_does_not_charge_again(
    stripe_configured, driver
):
    saved_card(driver, "pm_card_chargeCustomerFail")
    with pytest.raises(CardDeclined, match="declined"):
        charge_off_session(driver, Decimal("50"), "Session", "session:6")
    with pytest.raises(CardDeclined):
        charge_off_session(driver, Decimal("50"), "Session", "session:6")
    assert len(intents_of(ensure_customer(driver).id)) == 1
    assert CardPayment.objects.get(idempotency_key="session:6").status == "declined"


@pytest.mark.parametrize("amount", [Decimal("2.99"), Decimal("0"), Decimal("-10")])
def test_amounts_stripe_cannot_charge_are_refused_before_asking_stripe(
    stripe_configured, driver, amount
):
    saved_card(driver)
    with pytest.raises(PaymentError):
        charge_off_session(driver, amount, "Session", "session:7")
    assert intents_of(ensure_customer(driver).id) == []
    assert not CardPayment.objects.exists()


def test_top_up_with_a_saved_card_is_paid_at_once_and_credited_only_by_the_webhook(
    stripe_configured, driver
):
    saved_card(driver)
    intent = top_up_wallet(driver, Decimal("200"))
    assert intent.status == "succeeded"
    assert (intent.amount, intent.currency) == (20000, "sek")
    assert intent.metadata["purpose"] == "topup"
    assert wallet_balance(driver) == Decimal("0.00")  # see test_webhooks.py


def test_top_up_without_a_saved_card_hands_the_intent_to_the_browser(stripe_configured, driver):
    intent = top_up_wallet(driver, Decimal("150"))
    assert intent.status == "requires_payment_method"
    assert intent.client_secret
    assert intent.customer == ensure_customer(driver).id


def test_top_up_with_the_same_idempotency_key_is_one_payment(stripe_configured, driver):
    saved_card(driver)
    first = top_up_wallet(driver, Decimal("100"), idempotency_key="topup-form-1")
    again = top_up_wallet(driver, Decimal("100"), idempotency_key="topup-form-1")
    assert again.id == first.id
    assert len(intents_of(ensure_customer(driver).id)) == 1
