"""Who is told what, and when: the one place that decides (docs/architecture.md).

"Notify me when free": a driver watches a connector, or every connector of a station;
when one becomes Available (StatusNotification, stations/signals.py), each driver
waiting there gets one email in their own language and their watches at that station
close: they wanted a place to charge, so one email per station is enough.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from notifications.models import Watch
from notifications.transports import Email
from stations.models import Connector
from stations.signals import connector_status_changed
from users.models import User

logger = logging.getLogger(__name__)


def watch(user: User, connectors: Iterable[Connector]) -> list[Watch]:
    """The driver's open watches on `connectors`, opened where missing (asking twice
    changes nothing)."""
    watches = []
    for connector in connectors:
        existing = Watch.objects.filter(user=user, connector=connector, notified_at=None).first()
        if existing is None:
            try:
                # A double click may race this one: the constraint keeps one open watch.
                with transaction.atomic():
                    existing = Watch.objects.create(user=user, connector=connector)
            except IntegrityError:
                existing = Watch.objects.get(user=user, connector=connector, notified_at=None)
        watches.append(existing)
    return watches


def watched_connector_ids(user: User, connectors: Iterable[Connector]) -> set[int]:
    """Which of these connectors the driver is waiting for (for the station page)."""
    return set(
        Watch.objects.filter(
            user=user, connector__in=list(connectors), notified_at=None
        ).values_list("connector_id", flat=True)
    )


@receiver(connector_status_changed, sender=Connector, dispatch_uid="notifications.connector_free")
def connector_status_changed_received(
    sender: type[Connector], connector: Connector, previous_status: str, **kwargs: Any
) -> None:
    """Queue the emails when someone waits for this connector; the charger's answer never
    waits for an SMTP server (this runs in its request, after commit)."""
    if connector.status != Connector.Status.AVAILABLE:
        return
    if not Watch.objects.filter(connector=connector, notified_at=None).exists():
        return
    from notifications.tasks import notify_watchers  # tasks imports this module

    try:
        notify_watchers.delay(connector.pk)
    except Exception:
        # A broker that is down must not fail the charger's StatusNotification; the
        # watches stay open and the next change to Available tries again.
        logger.exception("Could not queue the watchers of connector %s", connector.pk)


def notify_watchers(connector_id: int, transport: Email | None = None) -> int:
    """Email each driver waiting for this connector, once, if it is still Available;
    returns how many were told. A failed email leaves that watch open."""
    transport = transport or Email()
    connector = (
        Connector.objects.select_related("charge_point__site").filter(pk=connector_id).first()
    )
    if connector is None or connector.status != Connector.Status.AVAILABLE:
        return 0  # taken again before we got here: nobody is told of a free connector
    site = connector.charge_point.site
    told = 0
    with transaction.atomic():
        # Locked: two workers handling two events must not email the same driver twice.
        watches = (
            Watch.objects.select_for_update(of=("self",))
            .filter(connector=connector, notified_at=None)
            .select_related("user")
        )
        for open_watch in watches:
            user = open_watch.user
            with translation.override(user.language):
                subject = _("A charger is free at %(place)s") % {
                    "place": site.name if site else connector.charge_point.charge_point_id
                }
                body = render_to_string(
                    "notifications/email/connector_free.txt",
                    {
                        "user": user,
                        "connector": connector,
                        "site": site,
                        # The public address of the portal (emails need an absolute one).
                        "url": settings.BILLING_PUBLIC_URL
                        + reverse("portal:station", args=[site.pk])
                        if site
                        else "",
                    },
                )
            error = transport.send(user.email, subject, body)
            if error is not None:
                logger.warning("Watch %s: email not sent: %s", open_watch.pk, error)
                continue
            now = timezone.now()
            closing = Watch.objects.filter(pk=open_watch.pk)
            if site is not None:
                # Told once per station: the driver's other watches there close too.
                closing = Watch.objects.filter(
                    user=user, notified_at=None, connector__charge_point__site=site
                )
            closing.update(notified_at=now)
            told += 1
    return told
