"""Stripe webhooks: verified, stored and processed by dj-stripe, then acted on here.

One endpoint, /stripe/webhook/, signed with DJSTRIPE_WEBHOOK_SECRET (the whsec_ of the
endpoint in the Stripe dashboard). dj-stripe 2.11's own view wants a WebhookEndpoint
row per endpoint (/stripe/webhook/<uuid>/, its secret in the database); a secret from
the environment keeps the deployment to settings, like every other secret here.

Processing is idempotent twice over: dj-stripe stores each Event once and runs its
handlers only the first time an event id is seen, and what we do in those handlers
(billing.payments.apply_payment_intent) fetches the object's current state from
Stripe and records money under unique references.
"""

import json
import logging
from traceback import format_exc
from typing import Any

import stripe
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from djstripe.event_handlers import djstripe_receiver
from djstripe.models import Event, WebhookEventTrigger
from djstripe.models.webhooks import get_remote_ip

from billing import payments, subscriptions

logger = logging.getLogger(__name__)

# How old a signature may be (seconds): Stripe's own default, against replays of a
# captured request.
SIGNATURE_TOLERANCE = stripe.Webhook.DEFAULT_TOLERANCE
EXCEPTION_LENGTH = 128  # WebhookEventTrigger.exception


@csrf_exempt
@login_not_required
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    secret = settings.DJSTRIPE_WEBHOOK_SECRET
    if not secret or not payments.payments_configured():
        # 503: Stripe keeps retrying for three days, so nothing is lost while the
        # keys are being set up.
        return JsonResponse(
            {"error": _("Stripe webhooks are not configured on this server.")}, status=503
        )
    try:
        payload = request.body.decode("utf-8")
        stripe.WebhookSignature.verify_header(
            payload, request.headers.get("Stripe-Signature"), secret, SIGNATURE_TOLERANCE
        )
    except (UnicodeDecodeError, stripe.SignatureVerificationError) as error:
        logger.warning("Stripe webhook refused: %s", error)
        return JsonResponse(
            {"error": _("The Stripe-Signature of this request is missing, wrong or too old.")},
            status=400,
        )
    event = _parse_event(payload)
    if event is None:
        return JsonResponse({"error": _("This is not a Stripe event.")}, status=400)
    trigger = _process(request, payload)
    return JsonResponse({"event": event["id"], "trigger": trigger.pk})


def _parse_event(payload: str) -> dict[str, Any] | None:
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("object") != "event":
        return None
    data = event.get("data")
    if not (
        isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    ):
        return None
    return event


def _process(request: HttpRequest, payload: str) -> WebhookEventTrigger:
    """What dj-stripe's WebhookEventTrigger.from_request does after its own validation.

    The trigger row is dj-stripe's log of deliveries; it is kept (with the traceback)
    when processing fails, while the processing itself is rolled back so that Stripe's
    retry starts clean.
    """
    api_key = payments.stripe_api_key()
    trigger = WebhookEventTrigger.objects.create(
        remote_ip=get_remote_ip(request),
        headers=dict(request.headers),
        body=payload,
        valid=True,
    )
    try:
        with transaction.atomic():
            trigger.process(save=False, api_key=api_key)
    except Exception as error:
        trigger.exception = str(error)[:EXCEPTION_LENGTH]
        trigger.traceback = format_exc()
        trigger.save()
        raise
    trigger.save()
    return trigger


# Receivers: dj-stripe sends these once per event id, inside the transaction that
# stores the Event, after its own handler has synced the object.


@djstripe_receiver(
    [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.canceled",
        "payment_intent.requires_action",
    ]
)
def on_payment_intent_event(sender: type[Event], event: Event, **kwargs: Any) -> None:
    payments.apply_payment_intent(event.data["object"]["id"])


@djstripe_receiver("setup_intent.succeeded")
def on_setup_intent_succeeded(sender: type[Event], event: Event, **kwargs: Any) -> None:
    payments.card_saved(event.data["object"]["id"])


@djstripe_receiver(
    [
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    ]
)
def on_subscription_event(sender: type[Event], event: Event, **kwargs: Any) -> None:
    # Fetched from Stripe, not read from the event: a late "updated" after "deleted"
    # must not bring a cancelled plan back.
    subscriptions.apply_subscription(event.data["object"]["id"])
