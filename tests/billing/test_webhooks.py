import json
import time
from decimal import Decimal

import stripe
from djstripe.models import Customer, Event, PaymentIntent, WebhookEventTrigger

from billing.models import CardPayment, WalletEntry
from billing.payments import default_card, ensure_customer, save_card, top_up_wallet
from billing.wallet import wallet_balance
from tests.billing.conftest import SECRET_KEY, make_event, saved_card, sign, stripe_events


def paid_top_up(driver, amount="200"):
    saved_card(driver)
    intent = top_up_wallet(driver, Decimal(amount))
    assert intent.status == "succeeded"
    return intent


def state():
    """Everything a webhook could change, to compare before and after."""
    return (
        list(WalletEntry.objects.values_list("user", "kind", "amount", "reference")),
        list(CardPayment.objects.values_list("idempotency_key", "payment_intent_id", "status")),
        sorted(Event.objects.values_list("id", flat=True)),
    )


def test_top_up_is_credited_when_stripe_reports_the_payment_succeeded(
    stripe_configured, driver, deliver
):
    intent = paid_top_up(driver, "250.50")
    [succeeded] = stripe_events(intent.id, "payment_intent.succeeded")

    response = deliver(succeeded)

    assert response.status_code == 200, response.content
    assert response.json()["event"] == succeeded["id"]
    assert wallet_balance(driver) == Decimal("250.50")
    entry = WalletEntry.objects.get()
    assert (entry.kind, entry.reference, entry.user) == ("topup", intent.id, driver)
    assert CardPayment.objects.get(payment_intent_id=intent.id).status == "succeeded"
    # dj-stripe stored the event and its mirror of the PaymentIntent.
    assert Event.objects.filter(id=succeeded["id"]).exists()
    assert PaymentIntent.objects.get(id=intent.id).stripe_data["status"] == "succeeded"


def test_replayed_event_changes_nothing(stripe_configured, driver, deliver):
    intent = paid_top_up(driver)
    [succeeded] = stripe_events(intent.id, "payment_intent.succeeded")
    payload = json.dumps(succeeded)
    signature = sign(payload)
    assert deliver(payload, signature=signature).status_code == 200
    before = state()

    replay = deliver(payload, signature=signature)

    assert replay.status_code == 200
    assert state() == before
    assert wallet_balance(driver) == Decimal("200.00")


def test_event_redelivered_by_stripe_with_a_new_signature_changes_nothing(
    stripe_configured, driver, deliver
):
    intent = paid_top_up(driver)
    [succeeded] = stripe_events(intent.id, "payment_intent.succeeded")
    assert deliver(succeeded).status_code == 200
    before = state()

    payload = json.dumps(succeeded)
    again = deliver(payload, signature=sign(payload, timestamp=int(time.time()) + 1))

    assert again.status_code == 200
    assert state() == before


def test_event_with_a_bad_signature_is_rejected_and_changes_nothing(
    stripe_configured, driver, deliver
):
    intent = paid_top_up(driver)
    [succeeded] = stripe_events(intent.id, "payment_intent.succeeded")
    payload = json.dumps(succeeded)
    before = state()

    wrong_secret = deliver(payload, signature=sign(payload, secret="whsec_somebody_else"))
    forged = payload.replace('"amount": 20000', '"amount": 90000')
    assert forged != payload
    tampered = deliver(forged, signature=sign(payload))
    unsigned = deliver(payload, signature="")

    assert [r.status_code for r in (wrong_secret, tampered, unsigned)] == [400, 400, 400]
    assert "Stripe-Signature" in wrong_secret.json()["error"]
    assert state() == before
    assert not WebhookEventTrigger.objects.exists()
    assert wallet_balance(driver) == Decimal("0.00")


def test_captured_event_replayed_after_the_signature_tolerance_is_rejected(
    stripe_configured, driver, deliver
):
    intent = paid_top_up(driver)
    [succeeded] = stripe_events(intent.id, "payment_intent.succeeded")
    payload = json.dumps(succeeded)
    old = sign(payload, timestamp=int(time.time()) - 3600)

    assert deliver(payload, signature=old).status_code == 400
    assert wallet_balance(driver) == Decimal("0.00")


def test_events_arriving_out_of_order_end_in_the_same_state(stripe_configured, driver, deliver):
    intent = paid_top_up(driver, "120")
    customer_id = intent.customer
    # Stripe does not promise order: the payment first, then the customer's events.
    events = stripe_events(intent.id) + stripe_events(customer_id)
    assert [event["type"] for event in events][:1] == ["payment_intent.succeeded"]
    assert {"customer.created", "customer.updated"} <= {event["type"] for event in events}

    for event in events:
        assert deliver(event).status_code == 200, event["type"]

    assert wallet_balance(driver) == Decimal("120.00")
    assert WalletEntry.objects.count() == 1
    assert Customer.objects.get(id=customer_id).subscriber == driver


def test_stale_event_arriving_after_success_does_not_undo_it(stripe_configured, driver, deliver):
    intent = paid_top_up(driver)
    [succeeded] = stripe_events(intent.id, "payment_intent.succeeded")
    assert deliver(succeeded).status_code == 200
    # An older event about the same PaymentIntent, held up somewhere on the way.
    stale = dict(succeeded["data"]["object"], status="processing")
    late = make_event("payment_intent.processing", stale)
    late["created"] = succeeded["created"] - 5

    assert deliver(late).status_code == 200

    assert CardPayment.objects.get(payment_intent_id=intent.id).status == "succeeded"
    assert wallet_balance(driver) == Decimal("200.00")


def test_success_event_for_a_payment_stripe_has_not_received_credits_nothing(
    stripe_configured, driver, deliver
):
    intent = top_up_wallet(driver, Decimal("300"))  # no card yet: requires_payment_method
    claims_paid = dict(intent.to_dict(), status="succeeded")

    response = deliver(make_event("payment_intent.succeeded", claims_paid))

    assert response.status_code == 200
    assert wallet_balance(driver) == Decimal("0.00")
    assert CardPayment.objects.get(payment_intent_id=intent.id).status == "requires_payment_method"


def test_payment_intent_of_another_integration_is_ignored(stripe_configured, driver, deliver):
    other = stripe.PaymentIntent.create(
        amount=5000, currency="sek", customer=ensure_customer(driver).id, api_key=SECRET_KEY
    )
    response = deliver(make_event("payment_intent.succeeded", other.to_dict()))
    assert response.status_code == 200
    assert not WalletEntry.objects.exists()
    assert not CardPayment.objects.exists()


def test_setup_intent_succeeded_event_saves_the_card_when_the_driver_never_came_back(
    stripe_configured, driver, deliver
):
    setup_intent = save_card(driver)
    confirmed = stripe.SetupIntent.confirm(
        setup_intent.id, payment_method="pm_card_visa", api_key=SECRET_KEY
    )

    response = deliver(make_event("setup_intent.succeeded", confirmed.to_dict()))

    assert response.status_code == 200, response.content
    assert default_card(driver) == confirmed.payment_method


def test_signed_body_that_is_not_a_stripe_event_is_rejected(stripe_configured, db, deliver):
    for body in ("not json", "[]", json.dumps({"object": "event", "id": "evt_1"})):
        response = deliver(body)
        assert response.status_code == 400, body
        assert "not a Stripe event" in response.json()["error"]
    assert not Event.objects.exists()


def test_webhook_without_stripe_configured_says_so(stripe_not_configured, db, deliver):
    response = deliver(make_event("payment_intent.succeeded", {"id": "pi_1"}))
    assert response.status_code == 503
    assert "not configured" in response.json()["error"]


def test_webhook_only_takes_post(stripe_configured, client, db):
    assert client.get("/stripe/webhook/").status_code == 405
