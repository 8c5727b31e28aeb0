"""billing/subscriptions.py: plans at Stripe (localstripe), subscribing, changing and
cancelling, the webhooks that report it, and the plan's pricing applied to sessions."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import stripe
from djstripe.models import Event, Price, Product

from billing import settlement
from billing.models import (
    CustomerGroup,
    PlanSubscription,
    SessionCharge,
    SubscriptionPlan,
    Tariff,
    TariffAssignment,
)
from billing.payments import CardDeclined, NoCardOnFile, PaymentError, ensure_customer
from billing.pricing import LineKind
from billing.subscriptions import (
    AlreadySubscribed,
    NoCardForSubscription,
    PlanNotOnSale,
    SubscriptionNotActive,
    apply_subscription,
    cancel,
    change_plan,
    included_kwh_left,
    monthly_amount,
    publish_plan,
    subscribe,
)
from billing.tariffs import price_of_session, tariff_for
from tests.billing.conftest import SECRET_KEY, make_event, saved_card, sign, stripe_events
from tests.billing.sessions import charging_site, finished_session, token_of

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def connector():
    return charging_site(price_per_kwh=D("3.00"))  # everyone else: 3.00 SEK/kWh net


def make_plan(connector, name, *, fee="99.00", kwh_price="2.00", **fields) -> SubscriptionPlan:
    """A plan whose group gets its own tariff at the connector's site."""
    group = CustomerGroup.objects.create(name=f"{name} members", kind=CustomerGroup.Kind.PLAN)
    tariff = Tariff.objects.create(name=f"{name} tariff", price_per_kwh=D(kwh_price))
    TariffAssignment.objects.create(
        tariff=tariff, site=connector.charge_point.site, customer_group=group
    )
    return SubscriptionPlan.objects.create(
        name=name, customer_group=group, monthly_fee=D(fee), **fields
    )


@pytest.fixture
def plus(connector, stripe_configured):
    plan = make_plan(connector, "Plus", fee="99.00", kwh_price="2.00")
    publish_plan(plan)
    return plan


@pytest.fixture
def flat(connector, stripe_configured):
    plan = make_plan(connector, "Flat", fee="499.00", kwh_price="0")
    publish_plan(plan)
    return plan


def members(plan: SubscriptionPlan) -> set:
    return set(plan.customer_group.members.all())


def stripe_subscriptions_of(user) -> list:
    customer = ensure_customer(user).id
    found = stripe.Subscription.list(customer=customer, status="all", api_key=SECRET_KEY)
    return list(found.auto_paging_iter())


def state():
    """Everything a subscription webhook could change, to compare before and after."""
    return (
        list(
            PlanSubscription.objects.order_by("pk").values_list(
                "stripe_subscription_id",
                "user",
                "plan",
                "status",
                "current_period_start",
                "current_period_end",
                "cancel_at_period_end",
                "updated_at",
            )
        ),
        sorted(
            CustomerGroup.members.through.objects.values_list("customergroup", "user")  # type: ignore[attr-defined]
        ),
    )


# --- Publishing plans ---


def test_published_plan_is_a_stripe_product_with_a_monthly_price_incl_vat(
    stripe_configured, connector
):
    plan = make_plan(connector, "Plus", fee="99.00")

    price_id = publish_plan(plan)

    plan.refresh_from_db()
    assert plan.stripe_price_id == price_id
    at_stripe = stripe.Plan.retrieve(price_id, api_key=SECRET_KEY)
    # 99.00 net + 25 % VAT = 123.75 SEK, in öre
    assert (at_stripe.amount, at_stripe.currency, at_stripe.interval) == (12375, "sek", "month")
    product = stripe.Product.retrieve(at_stripe.product, api_key=SECRET_KEY)
    assert product.name == "Plus"
    assert product.metadata["chargehub_plan"] == str(plan.pk)
    # dj-stripe's mirror of both
    assert Product.objects.get(id=product.id).name == "Plus"
    mirrored = Price.objects.get(id=price_id)
    assert (mirrored.unit_amount, mirrored.recurring["interval"]) == (12375, "month")


def test_publishing_again_returns_the_same_price_and_makes_nothing_new(
    stripe_configured, connector
):
    plan = make_plan(connector, "Plus")
    price_id = publish_plan(plan)
    products = len(stripe.Product.list(api_key=SECRET_KEY, limit=100).data)

    again = publish_plan(SubscriptionPlan.objects.get(pk=plan.pk))

    assert again == price_id
    assert len(stripe.Product.list(api_key=SECRET_KEY, limit=100).data) == products
    assert Price.objects.count() == 1


@pytest.mark.parametrize(
    ("fee", "vat_rate", "expected"),
    [
        ("99.00", "25", "123.75"),
        ("10.02", "25", "12.53"),  # 12.525 -> 12.53, half up
        ("10.01", "12", "11.21"),  # 11.2112 -> 11.21
        ("0.00", "25", "0.00"),
    ],
)
def test_the_monthly_amount_is_the_net_fee_plus_vat_rounded_once(fee, vat_rate, expected):
    plan = SubscriptionPlan(name="X", monthly_fee=D(fee), vat_rate=D(vat_rate))
    assert monthly_amount(plan) == D(expected)


def test_new_plans_take_vat_from_the_setting(db, settings, connector):
    settings.BILLING_DEFAULT_VAT_RATE = D("12")
    plan = make_plan(connector, "Cheap")
    assert plan.vat_rate == D("12")


def test_a_fee_stripe_cannot_charge_is_refused_before_asking_stripe(stripe_configured, connector):
    plan = make_plan(connector, "Tiny", fee="2.00")  # 2.50 incl. VAT, below 3.00
    with pytest.raises(PaymentError, match=r"less than 3\.00 SEK"):
        publish_plan(plan)
    plan.refresh_from_db()
    assert plan.stripe_price_id == ""


# --- Subscribing ---


def test_subscribing_without_a_card_says_to_save_one_and_subscribes_nothing(plus, driver):
    with pytest.raises(NoCardForSubscription, match="save a card") as raised:
        subscribe(driver, plus)

    assert isinstance(raised.value, NoCardOnFile)
    assert stripe_subscriptions_of(driver) == []
    assert not PlanSubscription.objects.exists()
    assert members(plus) == set()


def test_subscriber_joins_the_plans_group_and_its_tariff_wins(plus, driver, make_user, connector):
    saved_card(driver)

    subscription = subscribe(driver, plus)

    assert subscription.user == driver
    assert subscription.plan == plus
    assert subscription.status == "active"
    assert subscription.current_period_start.tzinfo == UTC
    assert subscription.current_period_end - subscription.current_period_start >= timedelta(days=28)
    assert members(plus) == {driver}
    now = datetime.now(UTC)
    assert tariff_for(connector, driver, now).name == "Plus tariff"
    assert tariff_for(connector, make_user(), now).name.startswith("Standard")
    # At Stripe: the driver's customer, the plan's price, the first month paid.
    [at_stripe] = stripe_subscriptions_of(driver)
    assert at_stripe.id == subscription.stripe_subscription_id
    assert at_stripe["items"]["data"][0]["price"]["id"] == plus.stripe_price_id
    invoice = stripe.Invoice.retrieve(at_stripe.latest_invoice, api_key=SECRET_KEY)
    assert (invoice.status, invoice.amount_paid) == ("paid", 12375)


def test_a_second_subscription_is_refused_change_the_plan_instead(plus, flat, driver):
    saved_card(driver)
    subscribe(driver, plus)

    with pytest.raises(AlreadySubscribed, match="change your plan"):
        subscribe(driver, flat)

    assert len(stripe_subscriptions_of(driver)) == 1
    assert members(flat) == set()


def test_a_plan_not_published_or_not_on_sale_cannot_be_subscribed_to(
    stripe_configured, connector, plus, driver
):
    saved_card(driver)
    unpublished = make_plan(connector, "Draft")
    plus.is_active = False
    plus.save()

    for plan in (unpublished, plus):
        with pytest.raises(PlanNotOnSale):
            subscribe(driver, plan)

    assert stripe_subscriptions_of(driver) == []


def test_a_declined_card_leaves_no_subscription(plus, driver, deliver):
    saved_card(driver, "pm_card_chargeCustomerFail")

    with pytest.raises(CardDeclined):
        subscribe(driver, plus)

    assert not PlanSubscription.objects.exists()
    assert members(plus) == set()
    # Stripe refuses it outright (error_if_incomplete); localstripe leaves it incomplete,
    # which subscribe() ends. Either way nothing is left running, and the webhooks about
    # it make nobody a member.
    made = stripe_subscriptions_of(driver)
    assert {subscription.status for subscription in made} <= {"canceled"}
    for subscription in made:
        for event in stripe_events(subscription.id):
            assert deliver(event).status_code == 200
    assert not PlanSubscription.objects.filter(status__in=PlanSubscription.ACTIVE_STATUSES)
    assert members(plus) == set()


# --- Changing and cancelling ---


def test_changing_plan_moves_the_membership(plus, flat, driver, connector):
    saved_card(driver)
    subscription = subscribe(driver, plus)

    changed = change_plan(subscription, flat)

    assert changed.pk == subscription.pk
    assert (changed.plan, changed.status) == (flat, "active")
    assert members(flat) == {driver}
    assert members(plus) == set()
    assert tariff_for(connector, driver, datetime.now(UTC)).name == "Flat tariff"
    at_stripe = stripe.Subscription.retrieve(
        subscription.stripe_subscription_id, api_key=SECRET_KEY
    )
    assert at_stripe["items"]["data"][0]["price"]["id"] == flat.stripe_price_id


def test_changing_a_plan_stripe_has_ended_says_so_and_records_the_end(plus, flat, driver):
    saved_card(driver)
    subscription = subscribe(driver, plus)
    # Ended at Stripe; its webhook has not arrived yet.
    stripe.Subscription.cancel(subscription.stripe_subscription_id, api_key=SECRET_KEY)

    with pytest.raises(SubscriptionNotActive, match="has ended"):
        change_plan(subscription, flat)

    subscription.refresh_from_db()
    assert (subscription.plan, subscription.status) == (plus, "canceled")
    assert members(plus) == members(flat) == set()


def test_changing_to_the_same_plan_changes_nothing(plus, driver):
    saved_card(driver)
    subscription = subscribe(driver, plus)
    before = state()

    assert change_plan(subscription, plus).plan == plus
    assert state() == before


def test_cancelling_now_ends_the_membership(plus, driver, connector):
    saved_card(driver)
    subscription = subscribe(driver, plus)

    cancelled = cancel(subscription)

    assert cancelled.status == "canceled"
    assert members(plus) == set()
    assert tariff_for(connector, driver, datetime.now(UTC)).name.startswith("Standard")
    at_stripe = stripe.Subscription.retrieve(
        subscription.stripe_subscription_id, api_key=SECRET_KEY
    )
    assert at_stripe.status == "canceled"
    # Cancelling again is no error and changes nothing.
    before = state()
    assert cancel(cancelled).status == "canceled"
    assert state() == before


def test_cancelling_at_period_end_keeps_the_plan_until_stripe_ends_it(plus, driver, deliver):
    saved_card(driver)
    subscription = subscribe(driver, plus)

    scheduled = cancel(subscription, at_period_end=True)

    assert (scheduled.status, scheduled.cancel_at_period_end) == ("active", True)
    assert members(plus) == {driver}
    # The period ends: Stripe cancels it and says so.
    stripe.Subscription.cancel(subscription.stripe_subscription_id, api_key=SECRET_KEY)
    [deleted] = stripe_events(subscription.stripe_subscription_id, "customer.subscription.deleted")
    assert deliver(deleted).status_code == 200
    scheduled.refresh_from_db()
    assert scheduled.status == "canceled"
    assert members(plus) == set()


def test_leaving_a_plan_keeps_the_membership_while_another_subscription_to_it_is_active(
    plus, driver, deliver
):
    saved_card(driver)
    first = subscribe(driver, plus)
    # A second subscription to the same plan, made at Stripe (the dashboard).
    second = stripe.Subscription.create(
        customer=ensure_customer(driver).id,
        items=[{"price": plus.stripe_price_id}],
        api_key=SECRET_KEY,
    )
    [created] = stripe_events(second.id, "customer.subscription.created")
    assert deliver(created).status_code == 200
    assert PlanSubscription.objects.filter(user=driver, plan=plus, status="active").count() == 2

    cancel(first)
    assert members(plus) == {driver}

    cancel(PlanSubscription.objects.get(stripe_subscription_id=second.id))
    assert members(plus) == set()


# --- Webhooks ---


def test_created_event_records_a_subscription_our_side_never_saw(plus, driver, deliver):
    # As if subscribe() had crashed after Stripe made the subscription.
    saved_card(driver)
    made = stripe.Subscription.create(
        customer=ensure_customer(driver).id,
        items=[{"price": plus.stripe_price_id}],
        metadata={"chargehub_user": str(driver.pk)},
        api_key=SECRET_KEY,
    )
    [created] = stripe_events(made.id, "customer.subscription.created")

    response = deliver(created)

    assert response.status_code == 200, response.content
    recorded = PlanSubscription.objects.get(stripe_subscription_id=made.id)
    assert (recorded.user, recorded.plan, recorded.status) == (driver, plus, "active")
    assert members(plus) == {driver}


def test_the_same_webhook_twice_changes_nothing(plus, driver, deliver):
    saved_card(driver)
    subscription = subscribe(driver, plus)
    [created] = stripe_events(subscription.stripe_subscription_id, "customer.subscription.created")
    payload = json.dumps(created)
    before = state()

    first = deliver(payload, signature=sign(payload))
    after_first = state()
    again = deliver(payload, signature=sign(payload))

    assert (first.status_code, again.status_code) == (200, 200)
    # subscribe() had recorded it already: the event (even the first time) and its
    # replay change nothing, not even updated_at.
    assert after_first == before
    assert state() == before
    assert Event.objects.filter(id=created["id"]).count() == 1


def test_an_old_updated_event_arriving_after_deleted_leaves_it_cancelled(plus, driver, deliver):
    saved_card(driver)
    subscription = subscribe(driver, plus)
    sub_id = subscription.stripe_subscription_id
    [created] = stripe_events(sub_id, "customer.subscription.created")
    stripe.Subscription.cancel(sub_id, api_key=SECRET_KEY)  # e.g. in the dashboard
    [deleted] = stripe_events(sub_id, "customer.subscription.deleted")
    assert deliver(deleted).status_code == 200
    assert members(plus) == set()
    # An "updated" from before the cancellation, held up on the way: active, it says.
    late = make_event("customer.subscription.updated", created["data"]["object"])
    late["created"] = deleted["created"] - 60
    assert late["data"]["object"]["status"] == "active"

    assert deliver(late).status_code == 200

    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert members(plus) == set()


def test_a_plan_change_made_at_stripe_arrives_with_the_updated_event(plus, flat, driver, deliver):
    saved_card(driver)
    subscription = subscribe(driver, plus)
    sub_id = subscription.stripe_subscription_id
    item = stripe.Subscription.retrieve(sub_id, api_key=SECRET_KEY)["items"]["data"][0]
    changed = stripe.Subscription.modify(
        sub_id, items=[{"id": item["id"], "price": flat.stripe_price_id}], api_key=SECRET_KEY
    )
    # localstripe does not announce updates; Stripe would send this.
    assert (
        deliver(make_event("customer.subscription.updated", changed.to_dict())).status_code == 200
    )

    subscription.refresh_from_db()
    assert subscription.plan == flat
    assert members(flat) == {driver}
    assert members(plus) == set()


def test_subscription_of_a_price_that_is_no_plan_of_ours_is_ignored(
    stripe_configured, driver, deliver
):
    product = stripe.Product.create(name="Something else", api_key=SECRET_KEY)
    other = stripe.Plan.create(
        product=product.id, amount=5000, currency="sek", interval="month", api_key=SECRET_KEY
    )
    saved_card(driver)
    made = stripe.Subscription.create(
        customer=ensure_customer(driver).id, items=[{"price": other.id}], api_key=SECRET_KEY
    )

    assert apply_subscription(made.id) is None
    [created] = stripe_events(made.id, "customer.subscription.created")
    assert deliver(created).status_code == 200
    assert not PlanSubscription.objects.exists()


# --- Included kWh ---


@pytest.fixture
def bundle(connector, stripe_configured):
    """10 kWh a month included, then the plan's 2.00 SEK/kWh."""
    plan = make_plan(connector, "Bundle", fee="149.00", kwh_price="2.00", included_kwh=D("10"))
    publish_plan(plan)
    return plan


def test_included_kwh_make_the_first_session_partly_free_and_the_next_one_pays(
    bundle, driver, connector
):
    saved_card(driver)
    subscription = subscribe(driver, bundle)
    token = token_of(driver)
    start = subscription.current_period_start + timedelta(hours=1)
    first = finished_session(connector, token, started_at=start, wh=12_000)
    second = finished_session(connector, token, started_at=start + timedelta(hours=3), wh=5_000)
    assert included_kwh_left(driver, start) == D("10")

    first_charge = settlement.freeze_price(first.pk)

    # 12 kWh x 2.00 = 24.00; 10 kWh included x 2.00 = -20.00; net 4.00, VAT 1.00
    lines = [(line["kind"], line["quantity"], line["net"]) for line in first_charge.lines]
    assert lines == [
        (LineKind.ENERGY, "12.000", "24.00"),
        (LineKind.INCLUDED_ENERGY, "10.000", "-20.00"),
    ]
    assert (first_charge.net, first_charge.vat, first_charge.gross) == (
        D("4.00"),
        D("1.00"),
        D("5.00"),
    )
    assert included_kwh_left(driver, start) == D("0")

    second_charge = settlement.freeze_price(second.pk)

    # 5 kWh x 2.00 = 10.00, nothing left to include
    assert [line["kind"] for line in second_charge.lines] == [LineKind.ENERGY]
    assert (second_charge.net, second_charge.gross) == (D("10.00"), D("12.50"))
    # Pricing a settled session again leaves its own allowance to it.
    assert price_of_session(first).net == D("4.00")


def test_allowance_is_shared_out_over_sessions_until_it_is_used(bundle, driver, connector):
    saved_card(driver)
    subscription = subscribe(driver, bundle)
    token = token_of(driver)
    start = subscription.current_period_start + timedelta(minutes=5)
    sessions = [
        finished_session(connector, token, started_at=start + timedelta(hours=n), wh=4_000)
        for n in range(3)
    ]

    nets = [settlement.freeze_price(session.pk).net for session in sessions]

    # 4 kWh each at 2.00 = 8.00: all free, all free, then 2 of 4 kWh free = 4.00
    assert nets == [D("0.00"), D("0.00"), D("4.00")]
    assert included_kwh_left(driver, start) == D("0")


def test_no_allowance_outside_the_period_or_without_an_active_subscription(
    bundle, driver, connector
):
    saved_card(driver)
    token = token_of(driver)
    before = datetime.now(UTC) - timedelta(days=1)
    assert included_kwh_left(driver, before) == D("0")  # not subscribed yet
    subscription = subscribe(driver, bundle)
    assert included_kwh_left(driver, subscription.current_period_start - timedelta(hours=1)) == 0
    assert included_kwh_left(driver, subscription.current_period_end) == D("0")
    assert included_kwh_left(None, subscription.current_period_start) == D("0")

    cancel(subscription)

    start = subscription.current_period_start + timedelta(hours=1)
    assert included_kwh_left(driver, start) == D("0")
    charge = settlement.freeze_price(
        finished_session(connector, token, started_at=start, wh=5_000).pk
    )
    # The public 3.00 SEK/kWh, nothing included: 15.00
    assert [line["kind"] for line in charge.lines] == [LineKind.ENERGY]
    assert charge.net == D("15.00")


def test_another_drivers_sessions_do_not_use_the_allowance(bundle, driver, make_user, connector):
    saved_card(driver)
    subscription = subscribe(driver, bundle)
    start = subscription.current_period_start + timedelta(hours=1)
    stranger = make_user()
    settlement.freeze_price(
        finished_session(connector, token_of(stranger), started_at=start, wh=8_000).pk
    )

    assert included_kwh_left(driver, start) == D("10")
    assert SessionCharge.objects.count() == 1
