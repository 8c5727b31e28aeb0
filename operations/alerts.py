"""Staff alerts: an email to the technicians of a ticket's site when it opens, escalates
(its severity is raised) or goes overdue, and to its assignee when staff assign it; each
alert once per ticket (per severity for escalations, per assignee for assignments),
recorded on the ticket as an entry of kind alert.

Who hears: the technicians covering the ticket's site (SiteTechnician). A ticket without
a site, or a site nobody covers, goes to every active member of the technician role, so
that no alert reaches nobody. On which channels: each technician's choice for the staff
alert "ticket alerts" (notifications/preferences.py TICKET_ALERTS, on "My account →
Notifications": email by default, the portal's list, push; at least one); one who chose
the daily digest (for the site, or for all their staff alerts) gets the email in
`send_digests`'s email instead, the portal and push at once. A flapping charger raises
one ticket (operations/tickets.py joins or reopens it), hence one alert. Messages leave
through notifications' outbox (notifications/outbox.py), in each technician's language.
"""

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from notifications import digest, events, outbox, preferences
from operations.models import SiteTechnician, Ticket, TicketEntry
from users.models import User
from users.roles import TECHNICIAN

logger = logging.getLogger(__name__)

OPENED, ESCALATED, OVERDUE, ASSIGNED = "opened", "escalated", "overdue", "assigned"
REASONS = (OPENED, ESCALATED, OVERDUE, ASSIGNED)


# A site's technician takes its alerts in the daily digest when they chose it for the
# site (SiteTechnician.digest) or for all their staff alerts (Preferences.staff_digest).
IN_DIGEST = Q(digest=True) | Q(user__notification_preferences__staff_digest=True)


def recipients(ticket: Ticket, reason: str = OPENED) -> tuple[list[User], list[User]]:
    """(who is emailed now, who gets it in their digest); an assignment only its
    assignee, in their digest if they chose it (IN_DIGEST) and cover the ticket's site."""
    rows = SiteTechnician.objects.filter(site_id=ticket.site_id, user__is_active=True)
    if reason == ASSIGNED:
        assignee = ticket.assignee
        if assignee is None or not assignee.is_active:
            return [], []
        digest = rows.filter(IN_DIGEST, user=assignee).exists()
        return ([], [assignee]) if digest else ([assignee], [])
    if ticket.site_id is not None and rows.exists():
        later = list(rows.filter(IN_DIGEST).select_related("user").order_by("pk"))
        now_ = rows.exclude(pk__in=[row.pk for row in later]).select_related("user")
        return [row.user for row in now_.order_by("pk")], [row.user for row in later]
    everyone = User.objects.filter(is_active=True, groups__name=TECHNICIAN.name).order_by("pk")
    return list(everyone), []


def _claim(ticket: Ticket, reason: str, at: datetime) -> Ticket | None:
    """Mark the alert as sent, once: None when it was sent already (or is not due)."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if reason == OPENED:
            if ticket.alerted_at is not None:
                return None
            ticket.alerted_at = at
            ticket.save(update_fields=["alerted_at"])
        elif reason == OVERDUE:
            if ticket.overdue_alerted_at is not None or not ticket.is_overdue(at):
                return None
            ticket.overdue_alerted_at = at
            ticket.save(update_fields=["overdue_alerted_at"])
        elif reason == ASSIGNED:
            told = ticket.entries.filter(
                kind=TicketEntry.Kind.ALERT,
                data__reason=ASSIGNED,
                data__assignee=ticket.assignee_id,
            )
            if ticket.assignee_id is None or told.exists():
                return None
        else:
            told = ticket.entries.filter(
                kind=TicketEntry.Kind.ALERT,
                data__reason=ESCALATED,
                data__severity=ticket.severity,
            )
            if told.exists():
                return None
    return ticket


def alert(ticket_id: int, reason: str, at: datetime | None = None) -> TicketEntry | None:
    """Send the `reason` alert of the ticket if it was not sent yet; its entry, or None.

    The messages go on each technician's chosen channels (`events.to_channels`) through
    notifications' outbox, keyed on this claim: a failed delivery is retried there (and
    shown to staff), never sent twice."""
    if reason not in REASONS:
        raise ValueError(reason)
    ticket = Ticket.objects.filter(pk=ticket_id).select_related("site", "charge_point").first()
    if ticket is None:
        return None
    at = at or timezone.now()
    ticket = _claim(ticket, reason, at)
    if ticket is None:
        return None
    immediate, later = recipients(ticket, reason)
    sent_to, digest_to, failed = [], [], {}
    for user in immediate + later:
        channels = preferences.channels_for(user, preferences.TICKET_ALERTS)
        if user in later and preferences.EMAIL in channels:
            digest_to.append(user.email)  # send_digests emails it
            channels -= {preferences.EMAIL}
        if not channels:
            continue
        subject, body = _email(ticket, reason, user)
        key = f"ticket-alert:{ticket.pk}:{reason}:{ticket.severity}:{at.isoformat()}:{user.pk}"
        path = reverse("admin:operations_ticket_change", args=[ticket.pk])
        messages = events.to_channels(
            f"ticket_{reason}", user, channels, subject, body, path, key=key, detail=body
        )
        errors = [error for message in messages if (error := outbox.deliver(message.pk))]
        if errors:
            failed[user.email] = errors[0]  # the outbox tries again
        else:
            sent_to.append(user.email)
    text = _("Alert (%(reason)s) sent to %(count)s technician(s).") % {
        "reason": reason,
        "count": len(sent_to),
    }
    if digest_to:
        text += " " + _("%(count)s get it in their daily digest.") % {"count": len(digest_to)}
    return TicketEntry.objects.create(
        ticket=ticket,
        kind=TicketEntry.Kind.ALERT,
        text=text,
        data={
            "reason": reason,
            "severity": ticket.severity,
            "to": sent_to,
            "digest": digest_to,
            "failed": failed,
            "assignee": ticket.assignee_id if reason == ASSIGNED else None,
        },
        created_at=at,
    )


def _admin_url(ticket: Ticket) -> str:
    return settings.BILLING_PUBLIC_URL + reverse("admin:operations_ticket_change", args=[ticket.pk])


def _email(ticket: Ticket, reason: str, user: User) -> tuple[str, str]:
    with translation.override(user.language):
        subjects = {
            OPENED: _("Ticket #%(id)s opened: %(title)s"),
            ESCALATED: _("Ticket #%(id)s escalated to %(severity)s: %(title)s"),
            OVERDUE: _("Ticket #%(id)s overdue: %(title)s"),
            ASSIGNED: _("Ticket #%(id)s assigned to you: %(title)s"),
        }
        subject = subjects[reason] % {
            "id": ticket.pk,
            "title": ticket.title,
            "severity": ticket.get_severity_display(),
        }
        body = render_to_string(
            "operations/email/ticket_alert.txt",
            {"ticket": ticket, "reason": reason, "url": _admin_url(ticket)},
        )
    return subject, body


def send_digests(now: datetime | None = None) -> int:
    """One email per staff member who chose the digest: the ticket alerts of their sites
    since their last digest, and the other staff alerts held for it (payer blocked,
    webhook disabled: notifications/digest.py); returns how many were sent. Someone with
    nothing new gets none. A digest that does not leave at once stays in notifications'
    outbox, tried again."""
    now = now or timezone.now()
    rows = SiteTechnician.objects.filter(IN_DIGEST, user__is_active=True).select_related("user")
    by_user: dict[User, list[SiteTechnician]] = {}
    for row in rows:
        by_user.setdefault(row.user, []).append(row)
    for user in digest.waiting(now):
        by_user.setdefault(user, [])
    sent = 0
    for user, covered in by_user.items():
        # Ticket alerts by email only for those who chose email for them.
        wanted = preferences.wants(user, preferences.TICKET_ALERTS)
        entries = _ticket_alerts(user, covered, now) if wanted else []
        held = list(digest.pending(user, now))
        message = None
        if entries or held:
            with translation.override(user.language):
                subject = _("ChargeHub: %(count)s alert(s) today") % {
                    "count": len(entries) + len(held)
                }
                body = render_to_string(
                    "operations/email/ticket_digest.txt",
                    {"alerts": [_digest_line(entry) for entry in entries], "held": held},
                )
            key = f"ticket-digest:{user.pk}:{now.isoformat()}"
            with transaction.atomic():
                # The held alerts leave with this email, and only with it.
                message = events.email("ticket_digest", user, subject, body, key=key)
                digest.mark_sent(held, now)
            sent += 1
        SiteTechnician.objects.filter(pk__in=[row.pk for row in covered]).update(last_digest_at=now)
        if message is not None:
            error = outbox.deliver(message.pk)
            if error is not None:
                logger.warning("Digest to %s not sent yet: %s", user.email, error)
    return sent


def _ticket_alerts(user: User, covered: list[SiteTechnician], now: datetime) -> list[TicketEntry]:
    """The alerts of the sites the technician covers since their last digest."""
    if not covered:
        return []
    since = Q()
    for row in covered:
        since |= Q(ticket__site_id=row.site_id, created_at__gt=row.last_digest_at)
    return list(
        TicketEntry.objects.filter(since, kind=TicketEntry.Kind.ALERT, created_at__lte=now)
        # Someone else's assignment is theirs to hear.
        .exclude(Q(data__reason=ASSIGNED) & ~Q(data__assignee=user.pk))
        .select_related("ticket__site", "ticket__charge_point")
        .order_by("created_at")
    )


def _digest_line(entry: TicketEntry) -> dict[str, Any]:
    return {
        "ticket": entry.ticket,
        "reason": entry.data.get("reason", ""),
        "at": entry.created_at,
        "url": _admin_url(entry.ticket),
    }
