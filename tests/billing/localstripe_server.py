"""localstripe, as the billing tests run it: `python -m tests.billing.localstripe_server PORT`.

localstripe (PyPI) is a stateful imitation of the Stripe API. Four adjustments, each to
make it behave like Stripe on a point ChargeHub relies on, or to keep test runs apart:

- Listen on 127.0.0.1 only (its command line binds every interface).
- Keep the store in memory: it pickles everything to the fixed path
  /tmp/localstripe.pickle after each write, which parallel test runs would share.
- Answer GET /v1/account: dj-stripe asks which account owns the API key before it
  stores any Stripe object (djstripe/models/api.py, APIKey.refresh_account).
- Accept `description` on PaymentIntents, a standard Stripe parameter that
  charge_off_session() sends.
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


def main() -> None:
    port = int(sys.argv[1])
    keep_store_in_memory()
    accept_payment_intent_description()
    # Before the catch-all /v1/{object}s/{id} routes would not matter (no "accounts"
    # resource exists), but the auth middleware still applies: a secret key is required.
    server.app.router.add_get("/v1/account", retrieve_account)
    web.run_app(server.app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
