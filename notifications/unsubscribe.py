"""One-click unsubscribe (RFC 8058): a signed link per driver and kind of email.

Every email a driver may turn off carries `List-Unsubscribe` (this link) and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`: a mail app POSTs to the link
without a login or a cookie, so the signature is the proof. A GET shows a page that
asks first (link scanners follow GETs; RFC 8058 §3.1).
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from notifications import preferences
from users.models import User

_SALT = "notifications.unsubscribe"


def token(user: User, kind: str) -> str:
    """The signed part of the link: whom, and which kind of email."""
    return signing.dumps({"u": user.pk, "k": str(kind)}, salt=_SALT, compress=True)


def url(user: User, kind: str) -> str:
    """The absolute https link for the List-Unsubscribe header and the email's footer."""
    return settings.BILLING_PUBLIC_URL + reverse("portal:unsubscribe", args=[token(user, kind)])


def read(value: str) -> tuple[User, str] | None:
    """(user, kind) of a valid link, or None (forged, garbled, an unknown kind, a
    deleted account)."""
    try:
        data = signing.loads(value, salt=_SALT)
        kind = preferences.Kind(data["k"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if preferences.EMAIL in preferences.KINDS[kind].always:
        return None
    user = User.objects.filter(pk=data.get("u"), is_active=True).first()
    return (user, kind) if user is not None else None


def unsubscribe(user: User, kind: str) -> None:
    """Turn this kind of email off for the user (the portal page turns it on again)."""
    preferences.turn_off(user, kind, "email")
