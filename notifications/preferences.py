"""What a driver (or a member of staff) wants to be told, and on which channel: the one
rule every sender asks (`wants`, `channels_for`).

`KINDS` is the registry of what a driver may be told: per kind, the channels a driver
who never chose gets, whether it is transactional (it keeps at least one channel), and
the channels that cannot be turned off. The portal's page "My account → Notifications"
(notifications/views.py) and `GET/PUT /api/v1/me/notifications/` are built from it: a
new kind is one `Kind` member and one entry here.

Channels a driver chooses: email, the in-portal list and Web Push (webhooks are for
integrators). Push goes to each browser the driver subscribed; a driver who chose push
without any (or when this server has no VAPID keys) finds those messages in the
portal's list instead (`channels_for`), as *Find me a charger* does.

Some kinds cannot be turned off entirely (transactional): receipts, invoices, payment
problems, a session's cost. Payment problems and invoices are always emailed: a failed
payment counts towards blocking the driver's cards (billing/standing.py), and an invoice
is the legal document of what is owed. A receipt not emailed is still issued and listed
under Invoices and receipts.

Staff alerts (`KindRule.staff`) are listed, on the same page and API, to the staff who
hear them (`kinds_for`), with the same channels (at least one: they must reach someone)
and the choice of the daily digest instead of one email each (`Preferences.staff_digest`,
notifications/digest.py; it also holds operations' ticket alerts). A driver sees none.

Quiet hours: messages that can wait (`CAN_WAIT`) leave after them; and nobody gets more
than one message of a kind about one charger per NOTIFICATIONS_RATE_WINDOW
(`rate_limited`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from notifications import webpush
from notifications.models import Kind, OutboxMessage, Preferences
from users.models import User
from users.roles import FINANCE, TECHNICIAN

RECEIPTS = Kind.RECEIPTS
INVOICES = Kind.INVOICES
CHARGING_FINISHED = Kind.CHARGING_FINISHED
PAYMENT_PROBLEMS = Kind.PAYMENT_PROBLEMS
SESSION_STARTED = Kind.SESSION_STARTED
SESSION_ENDED = Kind.SESSION_ENDED
WALLET_LOW = Kind.WALLET_LOW
BOOKINGS = Kind.BOOKINGS
BOOKING_REMINDER = Kind.BOOKING_REMINDER
IDLE_FEE_SOON = Kind.IDLE_FEE_SOON
CARD_EXPIRING = Kind.CARD_EXPIRING
PAYER_BLOCKED = Kind.PAYER_BLOCKED
WEBHOOK_DISABLED = Kind.WEBHOOK_DISABLED
TICKET_ALERTS = Kind.TICKET_ALERTS

EMAIL, PORTAL, PUSH = "email", "portal", "webpush"
# The channels a driver chooses from, in the order the page shows them.
CHANNELS: dict[str, Promise] = {
    EMAIL: _("Email"),
    PORTAL: _("In the portal"),
    PUSH: _("Push"),
}


OWNER = "owner"


@dataclass(frozen=True)
class KindRule:
    """How one kind of message reaches a driver."""

    description: Promise
    default: frozenset[str]  # the channels of a driver who never chose
    transactional: bool = False  # keeps at least one channel
    always: frozenset[str] = frozenset()  # channels that cannot be turned off
    # A staff alert: who hears it, a role (its group's name) or OWNER, the staff member
    # the thing belongs to (a webhook endpoint's owner); only they see it (`kinds_for`).
    # Its email goes into the daily digest for staff who chose it (`wants_digest`).
    staff: str = ""


KINDS: dict[Kind, KindRule] = {
    CHARGING_FINISHED: KindRule(
        _(
            "When your session ends, and when your car stops charging while an idle fee "
            "may start: the energy, the duration and a link to the session."
        ),
        frozenset({EMAIL, PORTAL, PUSH}),
    ),
    SESSION_STARTED: KindRule(_("When a charger starts your session."), frozenset({PORTAL})),
    SESSION_ENDED: KindRule(
        _("What a finished session cost."), frozenset({PORTAL}), transactional=True
    ),
    RECEIPTS: KindRule(
        _(
            "A receipt for each paid charging session. Whatever you choose, your receipts "
            "are issued and listed under Invoices and receipts in My account."
        ),
        frozenset({EMAIL}),
        transactional=True,
    ),
    INVOICES: KindRule(
        _("Monthly invoices and credit notes: always emailed, they are the legal documents."),
        frozenset({EMAIL}),
        transactional=True,
        always=frozenset({EMAIL}),
    ),
    PAYMENT_PROBLEMS: KindRule(
        _(
            "Always emailed: a payment that fails can get your charging cards blocked, so "
            "we always tell you, with how to fix it."
        ),
        frozenset({EMAIL}),
        transactional=True,
        always=frozenset({EMAIL}),
    ),
    WALLET_LOW: KindRule(
        _("When a session takes your wallet below its low mark."),
        frozenset({EMAIL, PORTAL}),
    ),
    BOOKINGS: KindRule(
        _("A booking confirmed, and a booking that ended unused."),
        frozenset({EMAIL, PORTAL}),
    ),
    BOOKING_REMINDER: KindRule(
        _("A reminder shortly before your booked time starts."),
        frozenset({EMAIL, PORTAL, PUSH}),
    ),
    IDLE_FEE_SOON: KindRule(
        _("A warning a few minutes before an idle fee starts, while your car stays plugged in."),
        frozenset({EMAIL, PORTAL, PUSH}),
    ),
    CARD_EXPIRING: KindRule(
        _("When your saved card expires this month or next, with how to replace it."),
        frozenset({EMAIL, PORTAL}),
    ),
    PAYER_BLOCKED: KindRule(
        _("A payer blocked by repeated failed card payments."),
        frozenset({EMAIL}),
        transactional=True,
        staff=FINANCE.name,
    ),
    WEBHOOK_DISABLED: KindRule(
        _("Your webhook endpoint disabled after failing deliveries."),
        frozenset({EMAIL}),
        transactional=True,
        staff=OWNER,
    ),
    # Who hears which ticket (site, assignee) is operations' rule (operations/alerts.py).
    TICKET_ALERTS: KindRule(
        _(
            "A ticket of a site you cover opened, escalated or overdue, and a ticket "
            "assigned to you."
        ),
        frozenset({EMAIL}),
        transactional=True,
        staff=TECHNICIAN.name,
    ),
}
assert set(KINDS) == set(Kind), "every Kind has its rule in KINDS"
STAFF_KINDS: dict[Kind, str] = {kind: rule.staff for kind, rule in KINDS.items() if rule.staff}
# The kinds a driver chooses channels for, in the registry's order (the page's rows).
DRIVER_KINDS: list[Kind] = [kind for kind, rule in KINDS.items() if not rule.staff]
# The roles that hear staff alerts: those of STAFF_KINDS.
STAFF_ROLES = frozenset(r for r in STAFF_KINDS.values() if r != OWNER)


def is_staff_member(user: User) -> bool:
    """Whether the user hears staff alerts: staff, or in a role that hears them."""
    return user.is_staff or user.groups.filter(name__in=STAFF_ROLES).exists()


def kinds_for(user: User | None) -> list[Kind]:
    """The kinds this user chooses channels for, in the registry's order: the drivers'
    kinds, and the staff alerts they hear (their role's; OWNER's for staff)."""
    if user is None or not is_staff_member(user):
        return list(DRIVER_KINDS)
    roles = set(user.groups.values_list("name", flat=True))
    if user.is_staff:
        roles.add(OWNER)
    return [kind for kind, rule in KINDS.items() if not rule.staff or rule.staff in roles]


# Kinds that can wait for the end of quiet hours (the rest is delivered at once: a
# car that stopped, a free connector, a failed payment cannot wait till morning).
CAN_WAIT = frozenset({"receipt", "support_answer", CARD_EXPIRING})


def chosen(saved: Preferences | None, kind: Kind | str) -> frozenset[str]:
    """The channels of `kind` in these preferences (its defaults when not chosen), with
    those that cannot be turned off."""
    kind = Kind(kind)  # an unknown kind is a programming error: ValueError
    rule = KINDS[kind]
    if saved is not None and str(kind) in saved.channels:
        channels = frozenset(saved.channels[str(kind)]) & set(CHANNELS)
    else:
        channels = rule.default
    return channels | rule.always


def wants(user: User, kind: Kind | str, channel: str = EMAIL) -> bool:
    """Whether `user` wants this kind of message on this channel."""
    return channel in chosen(Preferences.objects.filter(user=user).first(), kind)


def has_push(user: User) -> bool:
    """Whether a push can reach this user: Web Push is on and they subscribed a browser."""
    return webpush.enabled() and user.push_subscriptions.exists()


def channels_for(user: User, kind: Kind | str) -> frozenset[str]:
    """The channels a message of `kind` leaves on now: the chosen ones, with push
    replaced by the portal's list when no browser of the driver can take it."""
    channels = chosen(Preferences.objects.filter(user=user).first(), kind)
    if PUSH in channels and not has_push(user):
        channels = (channels - {PUSH}) | {PORTAL}
    return channels


def push_without_device(user: User, saved: Preferences | None = None) -> list[Kind]:
    """The kinds for which the user chose push while no browser of theirs takes it (the
    page explains it, the API notes it)."""
    if has_push(user):
        return []
    saved = saved if saved is not None else preferences_of(user)
    return [kind for kind in kinds_for(user) if PUSH in chosen(saved, kind)]


def check_channels(
    channels: Mapping[str, Iterable[str]], user: User | None = None
) -> dict[Kind, frozenset[str]]:
    """What the form or the API sent as {kind: channels}, checked against KINDS; a
    ValidationError names every kind that is wrong (an unknown kind or a staff alert the
    user does not hear, an unknown channel, a transactional kind left without a channel,
    an "always" channel removed)."""
    errors = []
    checked = {}
    allowed = kinds_for(user)
    for name, wanted in channels.items():
        kind = Kind(name) if name in Kind.values else None
        if kind is None or kind not in allowed:
            errors.append(_("“%(kind)s” is not a kind of notification.") % {"kind": name})
            continue
        wanted = frozenset(wanted)
        rule = KINDS[kind]
        unknown = sorted(wanted - set(CHANNELS))
        if unknown:
            errors.append(
                _("%(kind)s: “%(channel)s” is not a channel; choose from %(channels)s.")
                % {"kind": kind.label, "channel": unknown[0], "channels": ", ".join(CHANNELS)}
            )
        elif not wanted and rule.transactional:
            errors.append(
                _("%(kind)s cannot be turned off entirely: keep at least one channel.")
                % {"kind": kind.label}
            )
        elif not rule.always <= wanted:
            errors.append(
                _("%(kind)s: %(channel)s cannot be turned off.")
                % {"kind": kind.label, "channel": ", ".join(str(CHANNELS[c]) for c in rule.always)}
            )
        else:
            checked[kind] = wanted
    if errors:
        raise ValidationError(errors)
    return checked


def wants_digest(user: User) -> bool:
    """Whether a staff member takes the STAFF_KINDS alerts in their daily digest rather
    than one email each (`Preferences.staff_digest`)."""
    return Preferences.objects.filter(user=user, staff_digest=True).exists()


def after_quiet_hours(user: User, kind: str, now: datetime | None = None) -> datetime | None:
    """When a message of `kind` to `user` may leave: None for now, or the end of the
    driver's quiet hours when it falls in them and can wait (CAN_WAIT)."""
    if kind not in CAN_WAIT:
        return None
    saved = Preferences.objects.filter(user=user).first()
    if saved is None or saved.quiet_start is None or saved.quiet_end is None:
        return None
    return quiet_until(saved.quiet_start, saved.quiet_end, now or timezone.now())


def quiet_until(start: time, end: time, now: datetime) -> datetime | None:
    """The end of the quiet hours `now` falls in (local time, they may span midnight),
    or None outside them. Pure: the rule the tests read."""
    zone = ZoneInfo(settings.TIME_ZONE)
    local = now.astimezone(zone)
    clock = local.time()
    inside = start <= clock < end if start <= end else (clock >= start or clock < end)
    if not inside or start == end:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


def rate_limited(
    user: User, kind: str, channel: str, charger: str, now: datetime | None = None
) -> bool:
    """Whether `user` was sent `kind` about this charger within
    NOTIFICATIONS_RATE_WINDOW: one message per kind and charger per window, so that a
    flapping charger does not flood anyone."""
    since = (now or timezone.now()) - timedelta(seconds=settings.NOTIFICATIONS_RATE_WINDOW)
    return OutboxMessage.objects.filter(
        recipient=user,
        kind=kind,
        channel=channel,
        payload__charger=charger,
        created_at__gte=since,
    ).exists()


def without(saved: Preferences, kind: Kind, channel: str) -> frozenset[str]:
    """The kind's channels with one turned off; a transactional kind left with none
    stays in the portal's list (receipts are listed there in any case)."""
    channels = chosen(saved, kind) - {channel}
    if not channels and KINDS[kind].transactional:
        channels = frozenset({PORTAL if channel != PORTAL else EMAIL})
    return channels


def turn_off(user: User, kind: Kind | str, channel: str = EMAIL) -> Preferences:
    """Turn one kind off on one channel (the one-click unsubscribe link), keeping the
    driver's other channels for it as they are now (chosen or default)."""
    kind = Kind(kind)
    return save_choices(user, {"channels": {kind: without(preferences_of(user), kind, channel)}})


def preferences_of(user: User) -> Preferences:
    """The driver's preferences; the defaults (not saved) until they first choose."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


# The fields of the first API (and the portal's first page), each one kind on one channel.
ONE_CHANNEL_FIELDS: dict[str, tuple[Kind, str]] = {
    "charging_finished": (CHARGING_FINISHED, EMAIL),
    "receipts_by_email": (RECEIPTS, EMAIL),
    "charging_finished_in_portal": (CHARGING_FINISHED, PORTAL),
}


def choices_of(saved: Preferences) -> dict[str, Any]:
    """The user's choices as the API shows them: `channels` per kind they may receive,
    the fields of the first API, quiet hours; for staff, `staff_digest`."""
    staff = {"staff_digest": saved.staff_digest} if is_staff_member(saved.user) else {}
    return {
        "channels": {
            str(kind): [name for name in CHANNELS if name in chosen(saved, kind)]
            for kind in kinds_for(saved.user)
        },
        **staff,
        **{
            field: channel in chosen(saved, kind)
            for field, (kind, channel) in ONE_CHANNEL_FIELDS.items()
        },
        "quiet_start": saved.quiet_start,
        "quiet_end": saved.quiet_end,
    }


def save_choices(user: User, choices: Mapping[str, Any]) -> Preferences:
    """Save what the form or the API sent (keys left out stay as they were): `channels`
    ({kind: channels}, checked by `check_channels`), the one-channel fields of the first
    API (a receipt not emailed stays in the portal's list), `quiet_start`, `quiet_end`,
    and for staff `staff_digest`. For a kind named in `channels`, `channels` decides.
    ValidationError: nothing saved."""
    known = {"channels", "quiet_start", "quiet_end", "staff_digest"}
    unknown = set(choices) - set(ONE_CHANNEL_FIELDS) - known
    if unknown:
        raise ValueError(f"Not a notification choice: {', '.join(sorted(unknown))}")
    if "staff_digest" in choices and not is_staff_member(user):
        raise ValidationError(_("The daily digest is for staff alerts."))
    saved = preferences_of(user)
    named = check_channels(choices.get("channels") or {}, user)
    channels = dict(saved.channels)
    for field, (kind, channel) in ONE_CHANNEL_FIELDS.items():
        if field in choices and kind not in named:
            current = Preferences(channels=channels)
            if choices[field]:
                channels[str(kind)] = sorted(chosen(current, kind) | {channel})
            else:
                channels[str(kind)] = sorted(without(current, kind, channel))
    for kind, wanted in named.items():
        channels[str(kind)] = sorted(wanted)
    fields: dict[str, Any] = {"channels": channels}
    for name in ("quiet_start", "quiet_end", "staff_digest"):
        if name in choices:
            fields[name] = choices[name]
    preferences, _created = Preferences.objects.update_or_create(user=user, defaults=fields)
    return preferences
