"""The staff digest: alerts held for one daily email instead of one email each.

A staff member who chose it (`Preferences.staff_digest`, notifications/preferences.py
`wants_digest`) gets the other alerts of preferences.STAFF_KINDS (a payer blocked, a
webhook endpoint disabled) held here by `events.staff_alert()`, and the ticket alerts of the
sites they cover (as those of a site where they chose SiteTechnician.digest).
operations/alerts.py `send_digests` writes the one email with both and marks what it
carried sent in the same transaction, so an item is in exactly one digest.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from notifications.models import DigestItem
from users.models import User


def hold(kind: str, user: User, subject: str, text: str, *, key: str) -> DigestItem | None:
    """Keep an alert (written in the user's language) for their next digest; None when
    held before under this key."""
    try:
        with transaction.atomic():
            return DigestItem.objects.create(
                kind=kind, user=user, subject=subject, text=text, key=key
            )
    except IntegrityError:
        return None


def pending(user: User, until: datetime) -> QuerySet[DigestItem]:
    """The user's alerts not yet in a digest, held until `until`, oldest first."""
    return DigestItem.objects.filter(
        user=user, sent_at__isnull=True, created_at__lte=until
    ).order_by("created_at", "pk")


def waiting(until: datetime) -> QuerySet[User]:
    """Active users with alerts waiting for their digest."""
    return User.objects.filter(
        is_active=True, digest_items__sent_at__isnull=True, digest_items__created_at__lte=until
    ).distinct()


def mark_sent(items: Iterable[DigestItem], at: datetime) -> None:
    DigestItem.objects.filter(pk__in=[item.pk for item in items], sent_at__isnull=True).update(
        sent_at=at
    )
