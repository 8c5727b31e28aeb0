"""localstripe, as the billing tests run it: `python -m tests.billing.localstripe_server PORT`.

localstripe (PyPI) is a stateful imitation of the Stripe API. Adjustments, each to
make it behave like Stripe on a point ChargeHub relies on, or to keep test runs apart:

- Listen on 127.0.0.1 only (its command line binds every interface).
- Keep the store in memory: it pickles everything to the fixed path
  /tmp/localstripe.pickle after each write, which parallel test runs would share.
- Answer GET /v1/account: dj-stripe asks which account owns the API key before it
  stores any Stripe object (djstripe/models/api.py, APIKey.refresh_account).
- Accept `description` on PaymentIntents, a standard Stripe parameter that
  charge_off_session() sends.
- Serve Plans through the Prices API (GET /v1/prices/<id>), as Stripe does for every
  Plan, and name the Price in subscription items (`items[].price`), which is what
  billing/subscriptions.py sends and reads; localstripe only knows Plans.
- Name the subscription in each subscription item, and list no default tax rates as
  [] rather than null, as Stripe does: dj-stripe's mirror of a subscription cannot be
  stored otherwise (customer.subscription.* webhooks would fail).
"""

import sys
import time

from aiohttp import web
from localstripe import resources, server

ACCOUNT = {
    "id": "acct_localstripe",
    "object": "account",
    "type": "standard",
    "country": "SE",
    "default_currency": "sek",
    "email": "stripe@chargehub.test",
    "charges_enabled": True,
    "payouts_enabled": True,
    "details_submitted": True,
    "business_profile": {"name": "ChargeHub test account"},
    "settings": {"dashboard": {"display_name": "ChargeHub test account"}},
    "metadata": {},
    "livemode": False,
    "created": int(time.time()),
}


def keep_store_in_memory() -> None:
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None


def accept_payment_intent_description() -> None:
    original_init = resources.PaymentIntent.__init__

    def __init__(self, *args, description=None, **kwargs):
        original_init(self, *args, **kwargs)
        self.description = description

    resources.PaymentIntent.__init__ = __init__


async def retrieve_account(request: web.Request) -> web.Response:
    return server.json_response(ACCOUNT)


def plan_as_price(plan: resources.Plan) -> dict:
    """A Plan as Stripe's Prices API shows it (same id)."""
    return {
        "id": plan.id,
        "object": "price",
        "active": plan.active,
        "billing_scheme": plan.billing_scheme,
        "created": plan.created,
        "currency": plan.currency,
        "livemode": False,
        "lookup_key": None,
        "metadata": dict(plan.metadata),
        "nickname": plan.nickname,
        "product": plan.product,
        "recurring": {
            "interval": plan.interval,
            "interval_count": plan.interval_count,
            "trial_period_days": plan.trial_period_days,
            "usage_type": plan.usage_type,
        },
        "tiers_mode": plan.tiers_mode,
        "type": "recurring",
        # Without unit_amount_decimal: stripe-python makes it a Decimal, which the events
        # the tests re-send (json.dumps) could not hold.
        "unit_amount": plan.amount,
    }


async def retrieve_price(request: web.Request) -> web.Response:
    plan = resources.Plan._api_retrieve(request.match_info["id"])
    return server.json_response(plan_as_price(plan))


def prices_in_subscription_items() -> None:
    def price_to_plan(items):
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and "price" in item:
                item["plan"] = item.pop("price")

    original_init = resources.Subscription.__init__
    original_update = resources.Subscription._update

    def __init__(self, *args, items=None, **kwargs):
        price_to_plan(items)
        original_init(self, *args, items=items, **kwargs)
        self.default_tax_rates = self.default_tax_rates or []

    def _update(self, *args, items=None, **kwargs):
        price_to_plan(items)
        original_update(self, *args, items=items, **kwargs)

    resources.Subscription.__init__ = __init__
    resources.Subscription._update = _update
    resources.SubscriptionItem.price = property(lambda item: plan_as_price(item.plan))
    resources.SubscriptionItem.subscription = property(lambda item: item._subscription)


def main() -> None:
    port = int(sys.argv[1])
    keep_store_in_memory()
    accept_payment_intent_description()
    prices_in_subscription_items()
    # Before the catch-all /v1/{object}s/{id} routes would not matter (no "accounts"
    # resource exists), but the auth middleware still applies: a secret key is required.
    server.app.router.add_get("/v1/account", retrieve_account)
    server.app.router.add_get("/v1/prices/{id}", retrieve_price)
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
