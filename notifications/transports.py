"""How a notification leaves: one class per channel, errors returned as values.

A transport never raises for a delivery problem: the caller decides what a failure
means (keep the watch open, try again on the next event).
"""

import logging

from django.core.mail import send_mail

logger = logging.getLogger(__name__)


class Email:
    """Plain-text email from DEFAULT_FROM_EMAIL."""

    def send(self, address: str, subject: str, body: str) -> str | None:
        """None when sent, else what went wrong."""
        if not address:
            return "no email address"
        try:
            send_mail(subject, body, None, [address])
        except Exception as error:  # SMTP, DNS, socket: all a failed delivery
            logger.exception("Email to %s not sent", address)
            return str(error) or error.__class__.__name__
        return None
