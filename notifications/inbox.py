"""The in-portal channel: the driver's notification list, its unread count in the header,
marking read, and the live message to the driver's open pages.

A notification reaches the list through the outbox like any message (channel "portal",
notifications/transports.py InPortal), which calls `add()`; the driver's pages hear it at
once over the live WebSocket (stations/live.py driver_group, {"kind": "notification"}).
"""

from django.db.models import QuerySet
from django.utils import timezone

from notifications.models import Notification
from stations import live
from users.models import User

# The list shows this many, newest first; older ones stay (and are marked read with them).
PAGE_SIZE = 50


def add(user: User, *, kind: str, title: str, body: str, url: str, key: str) -> Notification:
    """Put a notification in the driver's list once per key, and tell their open pages."""
    notification, created = Notification.objects.get_or_create(
        key=key, defaults={"user": user, "kind": kind, "title": title, "body": body, "url": url}
    )
    if created:
        live.relay(
            [live.driver_group(user.pk)],
            {
                "kind": "notification",
                "id": notification.pk,
                "title": title,
                "body": body,
                "url": url,
                "unread": unread_count(user),
            },
        )
    return notification


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at=None).count()


def latest(user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-pk")[:PAGE_SIZE]


def mark_read(user: User) -> int:
    """Mark every unread notification of the driver read; how many."""
    return Notification.objects.filter(user=user, read_at=None).update(read_at=timezone.now())
