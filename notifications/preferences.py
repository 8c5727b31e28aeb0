"""What a driver wants to be told: the one rule every sender asks (`wants`).

Drivers choose on the portal page "My account → Notifications" (notifications/views.py).
Some emails cannot be turned off:

- payment problems: a failed payment counts towards blocking the driver's cards
  (billing/standing.py), so the driver must hear of it;
- monthly invoices and credit notes: they are the legal document of what is owed, and
  billing sends them without asking.

A receipt turned off here is still issued and listed in the portal; only the email is
left out. Besides email, a driver chooses per kind whether it is listed in the portal
(`channels_off`), quiet hours (messages that can wait leave after them: `CAN_WAIT`),
and nobody gets more than one message of a kind about one charger per
NOTIFICATIONS_RATE_WINDOW (`rate_limited`).
"""

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from notifications.models import Kind, OutboxMessage, Preferences
from users.models import User
from users.roles import FINANCE

RECEIPTS = Kind.RECEIPTS
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

# The kinds a driver may turn off, and the Preferences field that holds the choice.
CHOICE_FIELDS: dict[Kind, str] = {
    RECEIPTS: "receipts_by_email",
    CHARGING_FINISHED: "charging_finished",
}
ALWAYS_SENT: frozenset[Kind] = frozenset({PAYMENT_PROBLEMS, PAYER_BLOCKED, WEBHOOK_DISABLED})

# Kinds for staff, not drivers, and who hears them: a role (its group's name), or
# OWNER, the staff member the thing belongs to (a webhook endpoint's owner). Always
# sent: by email, or in the daily digest for staff who chose it (`wants_digest`).
OWNER = "owner"
STAFF_KINDS: dict[Kind, str] = {
    PAYER_BLOCKED: FINANCE.name,
    WEBHOOK_DISABLED: OWNER,
}


# Channels a driver may choose per kind besides email (the in-portal list).
CHANNELS = ("portal",)

# What a driver who never chose gets of the kinds without an email field of their own:
# the session's start and cost in the portal only (the "charging finished" email says
# enough), a low wallet by email too (the next session may be refused).
DEFAULT_CHANNELS: dict[Kind, frozenset[str]] = {
    SESSION_STARTED: frozenset({"portal"}),
    SESSION_ENDED: frozenset({"portal"}),
    WALLET_LOW: frozenset({"email", "portal"}),
    BOOKINGS: frozenset({"email", "portal"}),
    BOOKING_REMINDER: frozenset({"email", "portal"}),
    IDLE_FEE_SOON: frozenset({"email", "portal"}),
    CARD_EXPIRING: frozenset({"email", "portal"}),
}

# Kinds that can wait for the end of quiet hours (the rest is delivered at once: a
# car that stopped, a free connector, a failed payment cannot wait till morning).
CAN_WAIT = frozenset({"receipt", "support_answer", CARD_EXPIRING})


def wants(user: User, kind: Kind | str, channel: str = "email") -> bool:
    """Whether `user` wants this kind of message on this channel; a driver who never
    chose gets the kind's DEFAULT_CHANNELS, or every channel. A kind that is always
    sent is always wanted."""
    kind = Kind(kind)  # an unknown kind is a programming error: ValueError
    if kind in ALWAYS_SENT:
        return True
    saved = Preferences.objects.filter(user=user).first()
    if channel == "email" and kind in CHOICE_FIELDS:
        return saved is None or getattr(saved, CHOICE_FIELDS[kind])
    if saved is not None and str(kind) in saved.channels_off:
        return channel not in saved.channels_off[str(kind)]
    return channel in DEFAULT_CHANNELS.get(kind, {channel})


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


def turn_off(user: User, kind: Kind | str, channel: str = "email") -> Preferences:
    """Turn one kind off on one channel (the one-click unsubscribe link), keeping the
    driver's other channels for it as they are now (chosen or default)."""
    kind = Kind(kind)
    if channel == "email" and kind in CHOICE_FIELDS:
        return save_preferences(user, {CHOICE_FIELDS[kind]: False})
    off = dict(preferences_of(user).channels_off)
    now_off = {name for name in ("email", *CHANNELS) if not wants(user, kind, name)}
    off[str(kind)] = sorted(now_off | {channel})
    return save_preferences(user, {"channels_off": off})


def preferences_of(user: User) -> Preferences:
    """The driver's preferences; the defaults (not saved) until they first choose."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


def save_preferences(user: User, choices: dict[str, Any]) -> Preferences:
    """Store the driver's choices ({field: value}: the email fields, `channels_off`,
    `quiet_start`, `quiet_end`); creates the row on the first save."""
    unknown = (
        set(choices) - set(CHOICE_FIELDS.values()) - {"channels_off", "quiet_start", "quiet_end"}
    )
    if unknown:
        raise ValueError(f"Not a notification choice: {', '.join(sorted(unknown))}")
    preferences, _created = Preferences.objects.update_or_create(user=user, defaults=choices)
    return preferences


def portal_choice(saved: Preferences) -> bool:
    """Whether "charging finished" is listed in the portal (the form's and the API's
    `charging_finished_in_portal`)."""
    return "portal" not in saved.channels_off.get(str(CHARGING_FINISHED), [])


def choices_of(saved: Preferences) -> dict[str, Any]:
    """The driver's choices as the portal's form and the API show them."""
    return {
        **{field: getattr(saved, field) for field in CHOICE_FIELDS.values()},
        "charging_finished_in_portal": portal_choice(saved),
        "quiet_start": saved.quiet_start,
        "quiet_end": saved.quiet_end,
    }


def save_choices(user: User, choices: dict[str, Any]) -> Preferences:
    """Save what the form or the API sent (the shape of `choices_of`; keys left out
    stay as they were)."""
    fields = {name: choices[name] for name in CHOICE_FIELDS.values() if name in choices}
    saved = preferences_of(user)
    if "charging_finished_in_portal" in choices:
        off = dict(saved.channels_off)
        kind = str(CHARGING_FINISHED)
        channels = set(off.get(kind, [])) - {"portal"}
        if not choices["charging_finished_in_portal"]:
            channels.add("portal")
        off[kind] = sorted(channels)
        fields["channels_off"] = off
    for name in ("quiet_start", "quiet_end"):
        if name in choices:
            fields[name] = choices[name]
    return save_preferences(user, fields)
