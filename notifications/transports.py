"""How a notification leaves: one class per channel, errors returned as values.

Every transport has the same shape: `send(message) -> None | str`, None when delivered,
else what went wrong; it never raises for a delivery problem, and the outbox
(notifications/outbox.py) decides what a failure means (try again later, give up).
`transport_for(channel)` is the registry by channel name; a new channel (web push)
is one class and one line in TRANSPORTS.
"""

import logging
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.module_loading import import_string

from notifications import webpush
from notifications.models import PushSubscription

if TYPE_CHECKING:
    from notifications.models import OutboxMessage

logger = logging.getLogger(__name__)


class Transport(Protocol):
    def send(self, message: "OutboxMessage") -> str | None: ...


class Email:
    """Email from DEFAULT_FROM_EMAIL: the text as written, and the same as HTML.

    The payload holds the email as written in the recipient's language when the event
    happened: `to`, `subject`, `text`, optionally `html`, `reply_to`, `document` (the id
    of a billing document whose PDF is attached, rendered now), `attachment` (another
    app's, rendered now: {"kind", "reference"}, see attach_rendered) and `unsubscribe` (the
    preference kind a driver may turn off: RFC 8058 one-click headers are added).
    """

    def send(self, message: "OutboxMessage") -> str | None:
        payload = message.payload
        address = payload.get("to") or (message.recipient.email if message.recipient else "")
        if not address:
            return "no email address"
        try:
            email = self.build(message, address)
            email.send()
        except Exception as error:  # SMTP, DNS, socket, a PDF: all a failed delivery
            logger.exception("Email to %s not sent", address)
            return str(error) or error.__class__.__name__
        return None

    def build(self, message: "OutboxMessage", address: str) -> EmailMultiAlternatives:
        """The email as it leaves: text and HTML, its headers and attachment."""
        payload = message.payload
        headers = {}
        unsubscribe_url = ""
        if payload.get("unsubscribe") and message.recipient is not None:
            from notifications import unsubscribe

            unsubscribe_url = unsubscribe.url(message.recipient, payload["unsubscribe"])
            # RFC 8058 §3.1: both headers, the URL https, no cookie or login needed.
            headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email = EmailMultiAlternatives(
            payload.get("subject", ""),
            payload.get("text", ""),
            to=[address],
            reply_to=payload.get("reply_to") or None,
            headers=headers,
        )
        language = payload.get("language") or settings.LANGUAGE_CODE
        with translation.override(language):  # the footer in the recipient's language
            html = payload.get("html") or render_to_string(
                "notifications/email/message.html",
                {
                    "subject": payload.get("subject", ""),
                    "text": payload.get("text", ""),
                    "unsubscribe_url": unsubscribe_url,
                    "language": language,
                },
            )
        email.attach_alternative(html, "text/html")
        if payload.get("document"):
            self.attach_document(email, payload["document"])
        if payload.get("attachment"):
            self.attach_rendered(email, payload["attachment"])
        return email

    def attach_rendered(self, email: EmailMultiAlternatives, attachment: dict[str, str]) -> None:
        """An attachment another app renders now (settings.EMAIL_ATTACHMENTS: its kind
        names a function taking the payload's reference), which notifications never
        imports (insights' monthly report)."""
        render = import_string(settings.EMAIL_ATTACHMENTS[attachment["kind"]])
        name, content, mimetype = render(attachment["reference"])
        email.attach(name, content, mimetype)

    def attach_document(self, email: EmailMultiAlternatives, invoice_id: int) -> None:
        # Rendered at delivery: a PDF is too big to keep in every message's payload.
        from billing import documents

        name, pdf = documents.pdf_attachment(invoice_id)
        email.attach(name, pdf, "application/pdf")


class InPortal:
    """The driver's notification list in the portal (notifications/inbox.py), told live
    to their open pages. The payload: `title`, `body`, `url` (a path in the portal)."""

    def send(self, message: "OutboxMessage") -> str | None:
        if message.recipient is None:
            return "no recipient"
        from notifications import inbox

        payload = message.payload
        inbox.add(
            message.recipient,
            kind=message.kind,
            title=payload.get("title", ""),
            body=payload.get("body", ""),
            url=payload.get("url", ""),
            key=message.key,
        )
        return None


class WebPush:
    """A push to one browser (notifications/webpush.py): the payload names the
    subscription (`subscription`, its id) and holds what the service worker shows
    (`title`, `body`, `url`). A subscription the push service said is gone (404/410) has
    been deleted: every later attempt answers that, until the outbox gives up."""

    def send(self, message: "OutboxMessage") -> str | None:
        payload = message.payload
        subscription = PushSubscription.objects.filter(pk=payload.get("subscription")).first()
        if subscription is None:
            return "push subscription removed"
        shown = {name: payload.get(name, "") for name in ("title", "body", "url")}
        return webpush.send(subscription, shown)


# Channel name -> its transport class, by dotted path as Django names its backends: a
# channel's module (webhooks.py, which queues through the outbox itself) is loaded when
# a message of that channel is sent, so the outbox never imports it.
TRANSPORTS: dict[str, str] = {
    "email": "notifications.transports.Email",
    "portal": "notifications.transports.InPortal",
    "webpush": "notifications.transports.WebPush",
    "webhook": "notifications.webhooks.Webhook",
}


def transport_for(channel: str) -> Transport:
    """The transport of a channel; KeyError for one that does not exist."""
    return import_string(TRANSPORTS[channel])()
