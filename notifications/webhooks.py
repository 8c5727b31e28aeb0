"""Signed webhooks for integrators: which events exist, the signature, the guard against
server-side request forgery, and publishing an event to every endpoint that wants it.

Each delivery is an outbox message (channel "webhook", notifications/transports.py
Webhook): retried with the outbox's backoff; an endpoint that fails
WEBHOOKS_DISABLE_AFTER_FAILURES times in a row is disabled and its owner emailed.

The request: POST, `Content-Type: application/json`, the body
`{"id", "event", "created_at", "data"}`, and the headers `X-ChargeHub-Event`,
`X-ChargeHub-Timestamp` (Unix seconds) and `X-ChargeHub-Signature: sha256=<hex>`, the
HMAC-SHA256 with the endpoint's secret over `<timestamp>.<raw body>` (README: how to
verify). A charge point is named by its charge point id, never a database id.
"""

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from chargehub.read_again_after import ReadAgainAfter
from notifications import events, preferences
from notifications.models import WebhookEndpoint
from notifications.outbox import enqueue
from users.models import User

CONNECTOR_STATUS_CHANGED = "connector.status_changed"
SESSION_STARTED = "session.started"
SESSION_ENDED = "session.ended"
CHARGER_ONLINE = "charge_point.online"
CHARGER_OFFLINE = "charge_point.offline"
TICKET_OPENED = "ticket.opened"
TICKET_CLOSED = "ticket.closed"
TEST = "test"
EVENTS = (
    CONNECTOR_STATUS_CHANGED,
    SESSION_STARTED,
    SESSION_ENDED,
    CHARGER_ONLINE,
    CHARGER_OFFLINE,
    TICKET_OPENED,
    TICKET_CLOSED,
)


class TargetRefused(ValueError):
    """A URL we will not post to; str() says why (for staff and the API's 400)."""


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-ChargeHub-Signature value: HMAC-SHA256 over "<timestamp>.<body>"."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_target(url: str) -> None:
    """Refuse a URL that is not http(s), or whose host resolves to a loopback, private,
    link-local, multicast or reserved address (SSRF: the server must not be made to
    post into its own network), unless WEBHOOKS_ALLOW_PRIVATE_TARGETS. Asked when an
    endpoint is made and again before each delivery (a name may point elsewhere later).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(_("The URL must start with https:// and name a host."))
    if settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    except (OSError, ValueError, UnicodeError) as error:
        raise TargetRefused(_("The host cannot be resolved.")) from error
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise TargetRefused(
                _("The host resolves to a private, loopback or link-local address.")
            )


def create_endpoint(owner: User, url: str, events: list[str] | None = None) -> WebhookEndpoint:
    """A new endpoint with a fresh secret; TargetRefused or ValueError for bad input."""
    unknown = set(events or []) - set(EVENTS)
    if unknown:
        raise ValueError(_("Unknown events: %(events)s") % {"events": ", ".join(sorted(unknown))})
    check_target(url)
    return WebhookEndpoint.objects.create(
        owner=owner, url=url, secret=new_secret(), events=sorted(set(events or []))
    )


def publish(event: str, data: dict[str, Any], endpoints: Any = None) -> int:
    """Queue `event` for every enabled endpoint that wants it (in the caller's
    transaction; delivered after commit); how many."""
    if event not in EVENTS and event != TEST:
        raise ValueError(event)
    event_id = str(uuid.uuid4())
    created_at = timezone.now().isoformat()
    targets = endpoints if endpoints is not None else WebhookEndpoint.objects.filter(enabled=True)
    queued = 0
    for endpoint in targets:
        if event != TEST and not endpoint.wants(event):
            continue
        payload = {
            "endpoint": endpoint.pk,
            "body": {"id": event_id, "event": event, "created_at": created_at, "data": data},
        }
        key = f"webhook:{endpoint.pk}:{event_id}"
        if enqueue(event, endpoint.owner, "webhook", payload, key) is not None:
            queued += 1
    return queued


def send_test(endpoint: WebhookEndpoint) -> int:
    """Staff's "send test event" (admin, API)."""
    return publish(TEST, {"message": "Test event from ChargeHub"}, endpoints=[endpoint])


def record_outcome(endpoint_id: int, error: str | None) -> None:
    """Count a delivery: a success clears the failures; the Nth failure in a row disables
    the endpoint and tells its owner once."""
    if error is None:
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=0)
        return
    messages = []
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        if endpoint is None:
            return
        endpoint.consecutive_failures += 1
        endpoint.last_error = error[:2000]
        disable = (
            endpoint.enabled
            and endpoint.consecutive_failures >= settings.WEBHOOKS_DISABLE_AFTER_FAILURES
        )
        if disable:
            endpoint.enabled = False
            endpoint.disabled_at = timezone.now()
        endpoint.save()
        if disable:
            key = f"webhook-disabled:{endpoint.pk}:{endpoint.disabled_at.isoformat()}"
            for member in events.staff_to_tell(preferences.WEBHOOK_DISABLED, endpoint.owner):
                with translation.override(member.language):
                    subject = _("Webhook disabled: %(url)s") % {"url": endpoint.url}
                    body = _(
                        "Your webhook endpoint %(url)s failed %(count)s times in a row and "
                        "is disabled. Last error: %(error)s\n\nEnable it again in the admin "
                        "once it answers."
                    ) % {
                        "url": endpoint.url,
                        "count": endpoint.consecutive_failures,
                        "error": error,
                    }
                # On the channels they chose; by email in their daily digest if they chose it.
                messages += events.staff_alert(
                    preferences.WEBHOOK_DISABLED, member, subject, body, key=key
                )
    events.deliver_now(messages)


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could point anywhere, past check_target: it is a failed delivery.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class Webhook:
    """POSTs an event to its endpoint, signed (transports.py TRANSPORTS["webhook"]).

    The payload: `endpoint` (its id) and `body` (the event as sent). A 2xx answer is
    delivered; anything else, a timeout or a refused target is an error, counted on
    the endpoint (`record_outcome`). A disabled or deleted endpoint gets nothing more.
    """

    def send(self, message: Any) -> str | None:
        endpoint = WebhookEndpoint.objects.filter(pk=message.payload.get("endpoint")).first()
        if endpoint is None or not endpoint.enabled:
            return None  # nobody to deliver to any more: done, not failed
        error = self.post(endpoint, message.payload["body"])
        record_outcome(endpoint.pk, error)
        return error

    def post(self, endpoint: WebhookEndpoint, body: dict[str, Any]) -> str | None:
        try:
            check_target(endpoint.url)
        except TargetRefused as refused:
            return str(refused)
        raw = encode(body)
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            endpoint.url,
            data=raw,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "ChargeHub-Webhooks/1",
                "X-ChargeHub-Event": body["event"],
                "X-ChargeHub-Timestamp": timestamp,
                "X-ChargeHub-Signature": signature(endpoint.secret, timestamp, raw),
            },
        )
        try:
            with _opener.open(request, timeout=settings.WEBHOOKS_TIMEOUT) as response:
                status = response.status
        except urllib.error.HTTPError as answer:
            status = answer.code
        except (OSError, ValueError) as error:  # refused, timeout, DNS, TLS
            return str(error) or error.__class__.__name__
        return None if 200 <= status < 300 else f"HTTP {status}"


# --- What an event says (the receivers in notifications/receivers.py call these) --------


def _read_listening_events() -> frozenset[str]:
    wanted: set[str] = set()
    for chosen in WebhookEndpoint.objects.filter(enabled=True).values_list("events", flat=True):
        wanted.update(chosen or EVENTS)  # empty: every event
    return frozenset(wanted)


# The receivers ask at every status change and session, in the charger's request. An
# endpoint saved or deleted in this process forgets it (notifications/receivers.py); one
# changed in another process (admin on another `serve` worker, the worker that disables
# a failing one) is heard within WEBHOOKS_LISTENING_TTL.
_listening = ReadAgainAfter(_read_listening_events, "WEBHOOKS_LISTENING_TTL")


def listening_events() -> frozenset[str]:
    """The events at least one enabled endpoint wants (kept per process, see above)."""
    return _listening.get()


def forget_listening() -> None:
    """An endpoint changed: the next any_listening() reads the endpoints again."""
    _listening.forget()


def any_listening(event: str) -> bool:
    """One cheap question before building an event: does any enabled endpoint want it?"""
    return event in listening_events()


def connector_data(connector: Any, previous_status: str) -> dict[str, Any]:
    return {
        "charge_point": connector.charge_point.charge_point_id,
        "connector": connector.connector_id,
        "status": connector.status,
        "previous_status": previous_status,
    }


def session_data(session: Any) -> dict[str, Any]:
    """A session as integrators see it; when ended, its energy and cost (the price of
    billing/session_figures.py, the one rule; null where no tariff applies)."""
    from billing import session_figures

    data: dict[str, Any] = {
        "session": session.pk,
        "charge_point": session.charge_point.charge_point_id,
        "connector": session.connector.connector_id if session.connector_id else None,
        "status": session.status,
        "started_at": session.started_at.isoformat() if session.started_at else None,
    }
    if session.stopped_at is not None:
        figures = session_figures.figures(session)
        data["stopped_at"] = session.stopped_at.isoformat()
        data["energy_kwh"] = str(figures.energy_kwh)
        data["cost"] = (
            {"gross": str(figures.cost.gross), "currency": figures.cost.currency}
            if figures.cost is not None
            else None
        )
    return data


def ticket_data(ticket: Any) -> dict[str, Any]:
    return {
        "ticket": ticket.pk,
        "title": ticket.title,
        "status": ticket.status,
        "severity": ticket.severity,
        "charge_point": ticket.charge_point.charge_point_id if ticket.charge_point_id else None,
    }
