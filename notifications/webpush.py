"""Web Push (RFC 8030) with VAPID (RFC 8292) and message encryption (RFC 8291), through
pywebpush: a driver's browsers subscribe, and a message is encrypted for each one and
posted to its push service, which wakes the portal's service worker (static sw.js).

The transport (notifications/transports.py `WebPush`) calls `send()`; the portal's
subscribe and unsubscribe endpoints call `subscribe()` and `unsubscribe()`. A push
service answering 404 or 410 says the subscription is gone for good: the row is deleted.
"""

import base64
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from notifications.models import PushSubscription
from users.models import User

logger = logging.getLogger(__name__)

# A push service must answer quickly; the outbox retries a timeout later.
TIMEOUT_SECONDS = 10
# RFC 8030 §7.2 / §8: the subscription has expired or never existed.
GONE = frozenset({404, 410})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_keys() -> tuple[str, str]:
    """A new VAPID key pair: (public key as the browser takes it, private key as the
    WEBPUSH_VAPID_PRIVATE_KEY setting holds it), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return b64url(public), b64url(private)


def enabled() -> bool:
    """Whether this server can push: both VAPID keys are set."""
    return bool(settings.WEBPUSH_VAPID_PUBLIC_KEY and settings.WEBPUSH_VAPID_PRIVATE_KEY)


def subscribe(user: User, data: Any) -> PushSubscription:
    """Store what the browser's PushManager.subscribe() answered (its toJSON(): endpoint
    and keys), for this driver; a known endpoint moves to them. ValidationError for
    anything else."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise ValidationError(_("This is not a push subscription."))
    endpoint, keys = data.get("endpoint"), data["keys"]
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not all(isinstance(value, str) for value in (endpoint, p256dh, auth)):
        raise ValidationError(_("This is not a push subscription."))
    check_endpoint(endpoint)
    try:
        point, secret = b64url_decode(p256dh), b64url_decode(auth)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise ValidationError(_("This is not a push subscription.")) from None
    if len(secret) != 16:  # RFC 8291 §3.2: a 16-octet authentication secret
        raise ValidationError(_("This is not a push subscription."))
    subscription, _created = PushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"user": user, "p256dh": p256dh, "auth": auth}
    )
    return subscription


def check_endpoint(endpoint: str) -> None:
    """A push service's URL: https (RFC 8030 §8), short enough to store. Plain http only
    where WEBPUSH_ALLOW_HTTP_ENDPOINTS allows it (development, tests): otherwise a driver
    could make this server post to any address it reaches."""
    parts = urlsplit(endpoint)
    allowed = {"https", "http"} if settings.WEBPUSH_ALLOW_HTTP_ENDPOINTS else {"https"}
    if parts.scheme not in allowed or not parts.hostname or len(endpoint) > 1000:
        raise ValidationError(_("This is not a push subscription."))


def unsubscribe(user: User, endpoint: str) -> bool:
    """Forget one of the driver's subscriptions; whether there was one."""
    deleted, _by_model = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return bool(deleted)


def send(subscription: PushSubscription, message: dict[str, Any]) -> str | None:
    """Encrypt `message` (JSON: title, body, url) for one subscription and post it to its
    push service; None when the service took it, else what went wrong. 404/410: the
    subscription is deleted (the browser dropped it) and that is the error."""
    if not enabled():
        return "Web Push is not configured (WEBPUSH_VAPID_* settings)"
    try:
        webpush(
            {
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=json.dumps(message),
            vapid_private_key=Vapid.from_raw(settings.WEBPUSH_VAPID_PRIVATE_KEY.encode()),
            # A new dict each time: pywebpush writes aud and exp into it.
            vapid_claims={"sub": settings.WEBPUSH_VAPID_SUBJECT},
            ttl=settings.WEBPUSH_TTL,
            timeout=TIMEOUT_SECONDS,
        )
    except WebPushException as error:
        status = getattr(error.response, "status_code", None)
        if status in GONE:
            with transaction.atomic():
                PushSubscription.objects.filter(pk=subscription.pk).delete()
            return f"subscription gone ({status}), removed"
        return f"push service: {status or error}"
    except Exception as error:  # DNS, refused connection, timeout: all a failed delivery
        logger.warning("Push to %s failed: %s", urlsplit(subscription.endpoint).hostname, error)
        return str(error) or error.__class__.__name__
    return None
