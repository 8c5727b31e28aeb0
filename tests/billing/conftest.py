"""Billing fixtures: a real Stripe imitation (localstripe) over HTTP, and signed webhooks.

`stripe` starts localstripe once per run on a free 127.0.0.1 port
(tests/billing/localstripe_server.py) and points ChargeHub's Stripe settings at it for
the test: no request ever leaves the machine. `deliver` posts an event to the webhook
endpoint with the Django test client, signed as Stripe signs it.
"""

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.waiting import free_port, wait_for_port
from users.models import User

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk_test_chargehublocalstripe0000000001"
WEBHOOK_SECRET = "whsec_chargehub_tests"


POSTGRESQL_ONLY = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="Row locks under concurrent transactions need PostgreSQL; SQLite lets one "
    "writer in at a time, so there is no race to show.",
)


def in_threads(count: int, work: Callable[[int], Any]) -> tuple[dict, dict]:
    """Run work(i) in `count` threads that start together, each with its own connection."""
    start = threading.Barrier(count)
    results, errors = {}, {}

    def run(index: int) -> None:
        try:
            start.wait(10)
            results[index] = work(index)
        except Exception as error:  # collected for the assertions
            errors[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: Any) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.billing.localstripe_server", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, log_path)
        url = f"http://127.0.0.1:{port}"
        previous_base = stripe.api_base
        stripe.api_base = url  # also for anything that calls Stripe before our settings do
        yield url
        stripe.api_base = previous_base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def stripe_configured(localstripe_url: str, settings: Any) -> str:
    """Stripe keys set, the API at localstripe; returns the secret key."""
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_chargehublocalstripe0000000001"
    settings.STRIPE_API_BASE = localstripe_url
    settings.DJSTRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return SECRET_KEY


@pytest.fixture
def stripe_not_configured(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_PUBLISHABLE_KEY = ""
    settings.DJSTRIPE_WEBHOOK_SECRET = ""


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user(is_staff=True)


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


@pytest.fixture
def deliver(client: Client) -> Callable[..., Any]:
    """POST an event (a dict, or a raw body) to the webhook as Stripe would."""

    def post(event: dict[str, Any] | str, *, signature: str | None = None) -> Any:
        payload = event if isinstance(event, str) else json.dumps(event)
        headers = {"Stripe-Signature": signature if signature is not None else sign(payload)}
        return client.post(
            "/stripe/webhook/", payload, content_type="application/json", headers=headers
        )

    return post


def make_event(event_type: str, stripe_object: dict[str, Any]) -> dict[str, Any]:
    """An event as Stripe would send it, for a state localstripe does not announce itself."""
    return {
        "id": f"evt_test{uuid.uuid4().hex[:20]}",
        "object": "event",
        "type": event_type,
        "api_version": "2017-08-15",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": None,
        "data": {"object": stripe_object},
    }


def stripe_events(object_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
    """The events localstripe generated about one object, oldest first, as sent."""
    events = stripe.Event.list(api_key=SECRET_KEY, limit=100)
    found = [
        event.to_dict()
        for event in events.auto_paging_iter()
        if event.data.object.get("id") == object_id
        and (event_type is None or event.type == event_type)
    ]
    return sorted(found, key=lambda event: event["created"])


def saved_card(user: User, test_card: str = "pm_card_visa") -> str:
    """Save one of Stripe's test cards as the browser would (confirm the SetupIntent)."""
    from billing.payments import card_saved, save_card

    setup_intent = save_card(user)
    stripe.SetupIntent.confirm(setup_intent.id, payment_method=test_card, api_key=SECRET_KEY)
    payment_method = card_saved(setup_intent.id)
    assert payment_method
    return payment_method
