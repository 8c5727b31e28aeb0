"""Subscription plans sold through Stripe: publish, subscribe, change, cancel.

- publish_plan: a SubscriptionPlan becomes a Stripe Product with a monthly Plan, which
  Stripe also serves as a Price with the same id; dj-stripe mirrors both.
- subscribe, change_plan, cancel: what the driver asks for, done at Stripe first; our
  record is then written from what Stripe answered.
- apply_subscription: brings a PlanSubscription in line with Stripe and keeps group
  membership in step; the customer.subscription.* webhooks call it (billing/webhooks.py).
- included_kwh_left: what is left of the plan's kWh for a session; billing/tariffs.py
  hands it to billing/pricing.py, which prices it.

The rules:

- A plan's monthly fee is NET, like every price in ChargeHub. Stripe charges what it is
  sent, so it is sent the fee incl. VAT: monthly_fee * (100 + vat_rate) / 100, computed
  exactly and rounded once to whole öre, half up (billing.money.round_to_ore). A
  published plan keeps its Stripe price: to change the fee, make a new plan.
- A driver is a member of plan.customer_group exactly while they have a subscription to
  that plan whose status at Stripe is one of PlanSubscription.ACTIVE_STATUSES, so the
  tariffs assigned to that group apply to them (billing/tariffs.py: a group's assignment
  beats the general one). Leaving a plan removes the membership only when no other
  active subscription to that plan remains.
- One active subscription per driver: another plan is a change of plan, not a second
  subscription. A change applies from the moment Stripe confirms it (Stripe prorates
  the fee, its default).
- Stripe's state wins. Every write reads the subscription from Stripe (or takes
  Stripe's answer to the change just made); an event is only a nudge, so events that
  arrive twice, late or out of order all end in the state Stripe has now.
- Included kWh: the allowance of the plan whose subscription is active and whose
  current period covers the session's start, minus the kWh on the "included" lines of
  the driver's sessions already priced (SessionCharge.lines) that started in that
  period: the first session priced uses the allowance first. A session whose start the
  stored period does not cover (a renewal not yet reported) gets none.
"""

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe
from django.db import transaction
from django.utils.translation import gettext as _
from djstripe.models import Price, Product

from billing import money, payments
from billing.models import PlanSubscription, SessionCharge, SubscriptionPlan
from billing.pricing import LineKind
from users.models import User

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
INTERVAL = "month"
# Ours on every Stripe object made here, to find the plan and the driver again.
PLAN_KEY = "chargehub_plan"
USER_KEY = "chargehub_user"
# Stripe's terminal states: nothing left to cancel.
ENDED_STATUSES = ("canceled", "incomplete_expired")


class PlanNotOnSale(payments.PaymentError):
    def __init__(self, plan: SubscriptionPlan) -> None:
        super().__init__(_("The plan %(plan)s cannot be subscribed to.") % {"plan": plan})


class AlreadySubscribed(payments.PaymentError):
    def __init__(self, subscription: PlanSubscription) -> None:
        super().__init__(
            _("You already subscribe to %(plan)s: change your plan instead.")
            % {"plan": subscription.plan}
        )


class NoCardForSubscription(payments.NoCardOnFile):
    """A NoCardOnFile that says what the card is for."""

    def __init__(self) -> None:
        payments.PaymentError.__init__(
            self, _("A plan is paid monthly by card: save a card before subscribing.")
        )


class SubscriptionNotActive(payments.PaymentError):
    def __init__(self, subscription: PlanSubscription) -> None:
        super().__init__(_("The subscription to %(plan)s has ended.") % {"plan": subscription.plan})


def monthly_amount(plan: SubscriptionPlan) -> Decimal:
    """What Stripe charges a month, in SEK incl. VAT (the rule is in the docstring)."""
    return money.round_to_ore(plan.monthly_fee * (100 + plan.vat_rate) / 100)


def publish_plan(plan: SubscriptionPlan) -> str:
    """Create the plan at Stripe (once) and return its price id."""
    api_key = payments.stripe_api_key()
    with transaction.atomic():
        # Locked so that two clicks on "publish" cannot make two Stripe products.
        locked = SubscriptionPlan.objects.select_for_update().get(pk=plan.pk)
        if not locked.stripe_price_id:
            amount = monthly_amount(locked)
            if 0 < amount < payments.MINIMUM_CHARGE:
                raise payments.PaymentError(
                    _("Stripe cannot charge less than %(minimum)s SEK.")
                    % {"minimum": payments.MINIMUM_CHARGE}
                )
            metadata = {PLAN_KEY: str(locked.pk)}
            product = stripe.Product.create(name=locked.name, metadata=metadata, api_key=api_key)
            # A Plan rather than a Price: Stripe serves every Plan as a Price with the same
            # id, and the Plans API is the one both Stripe and localstripe (the tests) take.
            stripe_plan = stripe.Plan.create(
                product=product.id,
                amount=payments.to_minor_units(amount),
                currency=payments.CURRENCY,
                interval=INTERVAL,
                nickname=locked.name,
                metadata=metadata,
                api_key=api_key,
            )
            price = stripe.Price.retrieve(stripe_plan.id, api_key=api_key)
            Product.sync_from_stripe_data(product, api_key=api_key)
            Price.sync_from_stripe_data(price, api_key=api_key)
            locked.stripe_price_id = price.id
            locked.save(update_fields=["stripe_price_id"])
    plan.stripe_price_id = locked.stripe_price_id
    return plan.stripe_price_id


def active_subscription(user: User) -> PlanSubscription | None:
    """The driver's active subscription as Stripe last reported it, if any."""
    return (
        PlanSubscription.objects.filter(user=user, status__in=PlanSubscription.ACTIVE_STATUSES)
        .select_related("plan")
        .first()
    )


def subscribe(user: User, plan: SubscriptionPlan) -> PlanSubscription:
    """Subscribe the driver to a plan, paid monthly by the card on file.

    The first month is charged at once; a declined card raises CardDeclined and leaves
    no active subscription.
    """
    api_key = payments.stripe_api_key()
    if not plan.is_active or not plan.stripe_price_id:
        raise PlanNotOnSale(plan)
    with transaction.atomic():
        _lock_driver(user.pk)
        current = active_subscription(user)
        if current is not None:
            raise AlreadySubscribed(current)
        if not payments.default_card(user):
            raise NoCardForSubscription()
        customer = payments.ensure_customer(user)
        try:
            created = stripe.Subscription.create(
                customer=customer.id,
                items=[{"price": plan.stripe_price_id}],
                payment_behavior="error_if_incomplete",
                metadata={PLAN_KEY: str(plan.pk), USER_KEY: str(user.pk)},
                api_key=api_key,
            )
        except stripe.CardError as error:
            raise payments.CardDeclined(error.user_message or str(error)) from error
        if created.status not in PlanSubscription.ACTIVE_STATUSES:
            # The first month was not paid after all (a bank that wants the driver to
            # confirm, or a Stripe that left it incomplete): end it now rather than leave
            # it half made. The webhooks record it, as ended.
            stripe.Subscription.cancel(created.id, api_key=api_key)
            raise payments.CardDeclined(_("The card was not charged for the first month."))
        return _record_ours(created.to_dict(), user.pk)


def change_plan(subscription: PlanSubscription, new_plan: SubscriptionPlan) -> PlanSubscription:
    """Move an active subscription to another plan, from now on."""
    api_key = payments.stripe_api_key()
    if not new_plan.is_active or not new_plan.stripe_price_id:
        raise PlanNotOnSale(new_plan)
    with transaction.atomic():
        _lock_driver(subscription.user_id)
        current = _fetch(subscription.stripe_subscription_id, api_key)
        record = _record_ours(current, subscription.user_id)
        if record.is_active and _price_id(current) != new_plan.stripe_price_id:
            changed = stripe.Subscription.modify(
                current["id"],
                items=[{"id": _first_item(current)["id"], "price": new_plan.stripe_price_id}],
                api_key=api_key,
            )
            record = _record_ours(changed.to_dict(), subscription.user_id)
    # Raised after the commit, so that what Stripe said (it has ended) is kept.
    if not record.is_active:
        raise SubscriptionNotActive(record)
    return record


def cancel(subscription: PlanSubscription, *, at_period_end: bool = False) -> PlanSubscription:
    """End a subscription now, or when the period paid for ends (at_period_end)."""
    api_key = payments.stripe_api_key()
    with transaction.atomic():
        _lock_driver(subscription.user_id)
        current = _fetch(subscription.stripe_subscription_id, api_key)
        if current["status"] in ENDED_STATUSES:
            return _record_ours(current, subscription.user_id)
        if at_period_end:
            ended = stripe.Subscription.modify(
                current["id"], cancel_at_period_end=True, api_key=api_key
            )
        else:
            ended = stripe.Subscription.cancel(current["id"], api_key=api_key)
        return _record_ours(ended.to_dict(), subscription.user_id)


def apply_subscription(stripe_subscription_id: str) -> PlanSubscription | None:
    """Bring our record of a Stripe subscription, and group membership, up to date.

    None when the subscription is not one of ours (not for a published plan, or for a
    customer that is not a driver here).
    """
    api_key = payments.stripe_api_key()
    current = _fetch(stripe_subscription_id, api_key)
    with transaction.atomic():
        return _record(current)


def included_kwh_left(
    user: User | None, at: datetime, *, excluding_session_id: int | None = None
) -> Decimal:
    """What is left of the driver's plan allowance for a session starting at `at`.

    `excluding_session_id`: the session being priced, should it be priced before (its
    own included kWh are not used up by itself).
    """
    if user is None or not user.is_authenticated:
        return ZERO
    subscriptions = PlanSubscription.objects.filter(
        user=user,
        status__in=PlanSubscription.ACTIVE_STATUSES,
        current_period_start__lte=at,
        current_period_end__gt=at,
    ).select_related("plan")
    if transaction.get_connection().in_atomic_block:
        # Settling two sessions of one driver at once (two workers) must not spend the
        # same kWh twice: the second waits here until the first has stored its lines.
        subscriptions = subscriptions.select_for_update(of=("self",))
    subscription = subscriptions.first()
    if subscription is None or subscription.plan.included_kwh <= 0:
        return ZERO
    charges = SessionCharge.objects.filter(
        session__id_token__owner=user,
        session__started_at__gte=subscription.current_period_start,
        session__started_at__lt=subscription.current_period_end,
    )
    if excluding_session_id is not None:
        charges = charges.exclude(session_id=excluding_session_id)
    used = sum(
        (
            Decimal(line["quantity"])
            for lines in charges.values_list("lines", flat=True)
            for line in lines or ()
            if line.get("kind") == LineKind.INCLUDED_ENERGY
        ),
        ZERO,
    )
    return max(ZERO, subscription.plan.included_kwh - used)


def _fetch(stripe_subscription_id: str, api_key: str) -> dict[str, Any]:
    """The subscription as Stripe has it now, as plain data."""
    return stripe.Subscription.retrieve(stripe_subscription_id, api_key=api_key).to_dict()


def _lock_driver(user_id: int) -> None:
    # One driver's subscription changes and webhooks queue here: two clicks on
    # "subscribe" cannot make two subscriptions, and a webhook that arrives while
    # subscribe() waits for Stripe finds the record once it is there.
    User.objects.select_for_update().filter(pk=user_id).first()


def _record_ours(stripe_subscription: dict[str, Any], user_id: int) -> PlanSubscription:
    """_record for a change we made ourselves, on a price of one of our plans."""
    record = _record(stripe_subscription, user_id=user_id)
    if record is None:
        # Only if the plan's stripe_price_id was edited while we talked to Stripe.
        raise payments.PaymentError(
            _("Stripe reports subscription %(id)s on a price that is no plan here.")
            % {"id": stripe_subscription["id"]}
        )
    return record


def _record(
    stripe_subscription: dict[str, Any], *, user_id: int | None = None
) -> PlanSubscription | None:
    """Write what Stripe says about a subscription, and keep group membership in step.

    Call inside a transaction. `user_id` is known when we made the change; otherwise it
    comes from our record, our metadata or dj-stripe's customer. None: not ours.
    """
    subscription_id = stripe_subscription["id"]
    known = PlanSubscription.objects.filter(stripe_subscription_id=subscription_id).first()
    user_id = known.user_id if known else user_id or _driver_id(stripe_subscription)
    price_id = _price_id(stripe_subscription)
    plan = SubscriptionPlan.objects.filter(stripe_price_id=price_id).first() if price_id else None
    if user_id is None or (plan is None and known is None):
        return None
    _lock_driver(user_id)
    record = (
        PlanSubscription.objects.select_for_update()
        .select_related("plan")
        .filter(stripe_subscription_id=subscription_id)
        .first()
    )
    if plan is None:
        # Moved at Stripe (in the dashboard) to a price that is no plan of ours: keep the
        # plan we know, and say so.
        logger.warning("Subscription %s is on %s, no ChargeHub plan.", subscription_id, price_id)
        plan = record.plan
    start, end = _period(stripe_subscription)
    state = {
        "plan": plan,
        "status": stripe_subscription["status"],
        "current_period_start": start,
        "current_period_end": end,
        "cancel_at_period_end": bool(stripe_subscription.get("cancel_at_period_end")),
    }
    plans = {plan}
    if record is None:
        record = PlanSubscription.objects.create(
            user_id=user_id, stripe_subscription_id=subscription_id, **state
        )
    else:
        plans.add(record.plan)
        changed = [field for field, value in state.items() if getattr(record, field) != value]
        for field in changed:
            setattr(record, field, state[field])
        if changed:
            # Only on a change: the same state reported again leaves even updated_at.
            record.save(update_fields=[*changed, "updated_at"])
    for each in plans:
        _keep_membership(user_id, each)
    return record


def _keep_membership(user_id: int, plan: SubscriptionPlan) -> None:
    """A member of the plan's group exactly while a subscription to it is active."""
    active = PlanSubscription.objects.filter(
        user_id=user_id, plan=plan, status__in=PlanSubscription.ACTIVE_STATUSES
    ).exists()
    if active:
        plan.customer_group.members.add(user_id)
    else:
        plan.customer_group.members.remove(user_id)


def _driver_id(stripe_subscription: dict[str, Any]) -> int | None:
    """The driver of a subscription we have no record of yet (our transaction failed
    after Stripe made it, or it was made elsewhere)."""
    from_metadata = (stripe_subscription.get("metadata") or {}).get(USER_KEY, "")
    if from_metadata.isdigit() and User.objects.filter(pk=int(from_metadata)).exists():
        return int(from_metadata)
    customer_id = _id(stripe_subscription.get("customer"))
    if not customer_id:
        return None
    return (
        User.objects.filter(djstripe_customers__id=customer_id).values_list("pk", flat=True).first()
    )


def _price_id(stripe_subscription: dict[str, Any]) -> str | None:
    item = _first_item(stripe_subscription)
    return _id(item.get("price") or item.get("plan"))


def _first_item(stripe_subscription: dict[str, Any]) -> dict[str, Any]:
    # ChargeHub's subscriptions have one item, the plan's price.
    items = (stripe_subscription.get("items") or {}).get("data") or [{}]
    return items[0]


def _period(stripe_subscription: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The current period: on the subscription before Stripe API 2025-03-31, on its
    items since."""
    item = _first_item(stripe_subscription)
    start = stripe_subscription.get("current_period_start") or item.get("current_period_start")
    end = stripe_subscription.get("current_period_end") or item.get("current_period_end")
    return _instant(start), _instant(end)


def _id(value: str | dict[str, Any] | None) -> str | None:
    """The id of a Stripe reference, expanded or not."""
    return value.get("id") if isinstance(value, dict) else value


def _instant(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)
