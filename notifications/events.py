"""Who is told what, and when: the one place that decides (docs/architecture.md).

"Notify me when free": a driver watches a connector, or every connector of a station;
when one becomes Available (StatusNotification, stations/signals.py), each driver
waiting there gets one email in their own language and their watches at that station
close: they wanted a place to charge, so one email per station is enough.

"Charging finished": when the charger stops a session (stations/signals.py), the owner of
its token gets one email with the energy, the duration and a link to the session page
(where the receipt appears once it is issued), unless they turned it off
(notifications/preferences.py). A guest or a tag without an owner is not told here.

notifications/receivers.py hears stations' events and queues these as Celery tasks.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from billing.models import BillingAccount, SessionCharge, WalletEntry
from billing.money import format_money
from billing.payments import expiring_cards
from billing.standing import failed_payment_attempts
from billing.tariffs import idle_fee_starts, price_preview
from notifications import digest, preferences, webpush
from notifications.models import OutboxMessage, SessionNotice, Watch
from notifications.outbox import deliver, enqueue
from stations.models import Booking, ChargingSession, Connector
from users.models import User

if TYPE_CHECKING:
    from billing.payments import SavedCard
    from billing.tariffs import PricePreview

logger = logging.getLogger(__name__)

# The kinds of message (OutboxMessage.kind) sent from here; a session notice's kind is
# its SessionNotice.Kind.
CONNECTOR_FREE = "connector_free"
PUSH = preferences.PUSH


def email(
    kind: str,
    user: User,
    subject: str,
    body: str,
    *,
    key: str,
    unsubscribe: str | None = None,
    address: str | None = None,
    charger: str | None = None,
    **extra: object,
) -> OutboxMessage | None:
    """Write an email to `user` to the outbox, as written now in their language; the
    caller is a worker and delivers it with `deliver_now()` after its transaction.
    None: enqueued before, or held back by the rate limit.

    `unsubscribe` names the preference a driver may turn off (RFC 8058 headers); a
    transactional email (a receipt's invoice, a payment problem, an answer) has none.
    `charger` (a charge point id) puts it under the rate limit; a kind that can wait
    leaves after the driver's quiet hours (notifications/preferences.py).
    """
    payload = {
        "to": address if address is not None else user.email,
        "subject": subject,
        "text": body,
        "language": user.language,
        **extra,
    }
    if unsubscribe:
        payload["unsubscribe"] = str(unsubscribe)
    return _enqueue(kind, user, "email", payload, key, charger)


def _enqueue(
    kind: str, user: User, channel: str, payload: dict, key: str, charger: str | None
) -> OutboxMessage | None:
    if charger is not None:
        if preferences.rate_limited(user, kind, channel, charger):
            return None
        payload["charger"] = charger
    return enqueue(
        kind,
        user,
        channel,
        payload,
        key,
        deliver_after_commit=False,
        not_before=preferences.after_quiet_hours(user, kind),
    )


def in_portal(
    kind: str,
    user: User,
    title: str,
    body: str,
    url: str,
    *,
    key: str,
    charger: str | None = None,
) -> OutboxMessage | None:
    """Write a notification for the driver's list in the portal (written in their
    language now) to the outbox; delivered with `deliver_now()` like an email."""
    payload = {"title": title, "body": body, "url": url}
    return _enqueue(kind, user, "portal", payload, f"{key}:portal", charger)


def staff_to_tell(kind: str, owner: User | None = None) -> list[User]:
    """Who hears a staff alert, by preferences.STAFF_KINDS: the active members of its
    role's group, or `owner` (the staff member the thing belongs to)."""
    role = preferences.STAFF_KINDS[kind]
    if role == preferences.OWNER:
        return [owner] if owner is not None else []
    return list(User.objects.filter(is_active=True, groups__name=role).order_by("pk"))


def staff_alert(kind: str, user: User, subject: str, body: str, *, key: str) -> list[OutboxMessage]:
    """A staff alert (preferences.STAFF_KINDS) on the channels the staff member chose:
    its email held for their daily digest if they chose it (notifications/digest.py),
    else written to the outbox like `email()`; the portal's list and push as
    `to_channels`. The messages written now (none when held, or enqueued before)."""
    channels = preferences.channels_for(user, kind)
    if preferences.EMAIL in channels and preferences.wants_digest(user):
        digest.hold(kind, user, subject, body, key=key)
        channels -= {preferences.EMAIL}
    return to_channels(kind, user, channels, subject, body, "", key=key, detail=body)


def push(
    kind: str,
    user: User,
    title: str,
    body: str,
    url: str,
    *,
    key: str,
    charger: str | None = None,
) -> list[OutboxMessage | None]:
    """Write a push to each browser the driver subscribed (channel "webpush", one outbox
    message per subscription, what the service worker shows); none when Web Push is off."""
    if not webpush.enabled():
        return []
    shown = {"title": title, "body": body, "url": url}
    return [
        _enqueue(kind, user, PUSH, {**shown, "subscription": pk}, f"{key}:push:{pk}", charger)
        for pk in user.push_subscriptions.values_list("pk", flat=True)
    ]


def to_channels(
    kind: str,
    user: User,
    channels: Iterable[str],
    title: str,
    text: str,
    path: str,
    *,
    key: str,
    detail: str = "",
    unsubscribe: str | None = None,
    charger: str | None = None,
) -> list[OutboxMessage]:
    """Write one message to each of `channels` (preferences.channels_for): the email
    (`title` as its subject, `text` as written), the portal's list and a push (`title`,
    `detail` and `path`, a page of the portal). Once per key: enqueued before, it is
    left out. The caller delivers with `deliver_now()` after its transaction."""
    messages: list[OutboxMessage | None] = []
    if preferences.EMAIL in channels:
        messages.append(
            email(kind, user, title, text, key=key, unsubscribe=unsubscribe, charger=charger)
        )
    if preferences.PORTAL in channels:
        messages.append(in_portal(kind, user, title, detail, path, key=key, charger=charger))
    if preferences.PUSH in channels:
        messages.extend(push(kind, user, title, detail, path, key=key, charger=charger))
    return [message for message in messages if message is not None]


def deliver_now(messages: Iterable[OutboxMessage | None]) -> None:
    """Deliver messages this worker enqueued; a failure stays in the outbox, tried
    again after its backoff by the sweep."""
    for message in messages:
        if message is not None:
            deliver(message.pk)


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


def notify_watchers(connector_id: int) -> int:
    """Email each driver waiting for this connector, once, if it is still Available;
    returns how many were told. The emails are written to the outbox in the transaction
    that closes the watches: a watch is closed if and only if its email will leave."""
    connector = (
        Connector.objects.select_related("charge_point__site").filter(pk=connector_id).first()
    )
    if connector is None or connector.status != Connector.Status.AVAILABLE:
        return 0  # taken again before we got here: nobody is told of a free connector
    site = connector.charge_point.site
    messages = []
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
            key = f"watch:{open_watch.pk}"
            # No rate limit: the driver asked, and the watch closes once told.
            messages.append(email(CONNECTOR_FREE, user, subject, body, key=key))
            path = reverse("portal:station", args=[site.pk]) if site else ""
            with translation.override(user.language):
                place = connector.charge_point.charge_point_id
                detail = _("Charger %(charger)s, connector %(connector)s") % {
                    "charger": place,
                    "connector": connector.connector_id,
                }
            messages.append(in_portal(CONNECTOR_FREE, user, subject, detail, path, key=key))
            told += 1
            closing = Watch.objects.filter(pk=open_watch.pk)
            if site is not None:
                # Told once per station: the driver's other watches there close too.
                closing = Watch.objects.filter(
                    user=user, notified_at=None, connector__charge_point__site=site
                )
            closing.update(notified_at=timezone.now())
    deliver_now(messages)
    return told


# --- Charging finished, car stopped ------------------------------------------------------


def _driver_to_tell(session: ChargingSession | None) -> User | None:
    """The owner of the session's token, if they want to hear about their charging."""
    driver = session.id_token.owner if session is not None and session.id_token else None
    if driver is None or not driver.is_active:
        return None  # a guest's or an ownerless tag: nobody to tell
    if not preferences.channels_for(driver, preferences.CHARGING_FINISHED):
        return None  # turned off on every channel
    return driver


def _send_once(
    session: ChargingSession,
    kind: str,
    driver: User,
    compose: Callable[[], tuple[str, str]],
) -> bool:
    """Send `compose()` (subject, body) to the driver on their channels for "charging
    finished" (email; the subject in the portal's list and a push), unless this kind of
    notice was sent for the session already; True when enqueued now.

    The SessionNotice row and the outbox message are written in one transaction: a
    second run waits for the first one's commit, then finds its row; the outbox
    delivers (and retries) the email.
    """
    with transaction.atomic():
        _notice, created = SessionNotice.objects.get_or_create(session=session, kind=kind)
        if not created:
            return False
        with translation.override(driver.language):
            subject, body = compose()
        key = f"session:{session.pk}:{kind}"
        # In the portal's list and a push, the subject says it all, the link has the rest.
        messages = to_channels(
            kind,
            driver,
            preferences.channels_for(driver, preferences.CHARGING_FINISHED),
            subject,
            body,
            reverse("portal:session", args=[session.pk]),
            key=key,
            unsubscribe=preferences.CHARGING_FINISHED,
            charger=session.charge_point.charge_point_id,
        )
    deliver_now(messages)
    return True


def _sessions() -> QuerySet[ChargingSession]:
    return ChargingSession.objects.select_related(
        "id_token__owner", "charge_point__site", "connector"
    )


def tell_session_finished(session_id: int) -> bool:
    """Email the driver that their session ended, once; True when sent now.

    Only for a session the charger itself stopped: one closed by a rule (stale, lost
    charger) ended long before anyone noticed, and the email would tell the driver
    nothing useful. Once per session, however often the task runs or the charger
    retransmits its StopTransaction.
    """
    session = (
        _sessions()
        .filter(pk=session_id, status=ChargingSession.Status.COMPLETED, closed_by="charger")
        .first()
    )
    driver = _driver_to_tell(session)
    if driver is None:
        return False
    return _send_once(
        session,
        SessionNotice.Kind.CHARGING_FINISHED,
        driver,
        lambda: _session_finished_email(session, driver),
    )


def _place(session: ChargingSession) -> str:
    site = session.charge_point.site
    return site.name if site else session.charge_point.charge_point_id


def _session_finished_email(session: ChargingSession, driver: User) -> tuple[str, str]:
    """(subject, body) in the active language."""
    subject = _("Charging finished at %(place)s") % {"place": _place(session)}
    minutes = int((session.stopped_at - session.started_at) // timedelta(minutes=1))
    body = render_to_string(
        "notifications/email/session_finished.txt",
        {
            "user": driver,
            "session": session,
            "site": session.charge_point.site,
            "energy_kwh": formats.number_format(
                Decimal(session.energy_wh or 0) / 1000, decimal_pos=2, use_l10n=True
            ),
            "hours": minutes // 60,
            "minutes": minutes % 60,
            "started_at": timezone.localtime(session.started_at),
            "stopped_at": timezone.localtime(session.stopped_at),
            "url": _session_url(session),
        },
    )
    return subject, body


def _session_url(session: ChargingSession) -> str:
    # The public address of the portal (emails need an absolute one).
    return settings.BILLING_PUBLIC_URL + reverse("portal:session", args=[session.pk])


def tell_car_stopped(session_id: int) -> bool:
    """Email the driver that their car stopped charging and from when an idle fee runs,
    once per session; True when sent now.

    Only where the session's tariff has an idle fee: without one, the "charging
    finished" email is enough. The fee starts when billing counts it from (the grace
    period after the meter samples show the car stopped): asked again on each
    MeterValues while the connector is SuspendedEV, as the samples may come after the
    status. The time in the email is "from about": the car may draw again.
    """
    session = _sessions().filter(pk=session_id, status=ChargingSession.Status.ACTIVE).first()
    driver = _driver_to_tell(session)
    if driver is None or session.connector.status != Connector.Status.SUSPENDED_EV:
        return False  # nobody to tell, or charging again before we got here
    idle_fee = _idle_fee(session, driver)
    if idle_fee is None:
        return False
    prices, idle_from = idle_fee

    def compose() -> tuple[str, str]:
        subject = _("Your car has stopped charging at %(place)s") % {"place": _place(session)}
        body = render_to_string(
            "notifications/email/car_stopped.txt",
            {
                "user": driver,
                "session": session,
                "site": session.charge_point.site,
                "fee": format_money(prices.idle_fee_per_minute.gross, prices.currency),
                "idle_from": timezone.localtime(idle_from, ZoneInfo(prices.time_zone)),
                "url": _session_url(session),
            },
        )
        return subject, body

    return _send_once(session, SessionNotice.Kind.CAR_STOPPED, driver, compose)


def _idle_fee(session: ChargingSession, driver: User) -> "tuple[PricePreview, datetime] | None":
    """The prices of a session whose car stopped drawing power (SuspendedEV) and when its
    idle fee starts, as billing counts it (billing/tariffs.py idle_fee_starts, from the
    meter samples); None when the tariff has no idle fee or the samples do not show the
    car stopped yet (the next MeterValues asks again)."""
    # The tariff that applied when the session started is the one it is billed by.
    prices = price_preview(session.connector, driver, at=session.started_at)
    if prices is None or not prices.idle_fee_per_minute.net:
        return None
    starts = idle_fee_starts(session)
    return (prices, starts) if starts is not None else None


def tell_session_waiting(session_id: int) -> bool:
    """Email the driver that their car waits for room on the site's grid connection
    (smart charging gives it 0 A for now), once per session; True when enqueued now."""
    session = _sessions().filter(pk=session_id, status=ChargingSession.Status.ACTIVE).first()
    driver = _driver_to_tell(session)
    if driver is None:
        return False

    def compose() -> tuple[str, str]:
        subject = _("Your car waits to charge at %(place)s") % {"place": _place(session)}
        body = render_to_string(
            "notifications/email/waiting_for_power.txt",
            {
                "user": driver,
                "session": session,
                "site": session.charge_point.site,
                "url": _session_url(session),
            },
        )
        return subject, body

    return _send_once(session, SessionNotice.Kind.WAITING_FOR_POWER, driver, compose)


# --- Session started, session ended with its cost, wallet low ----------------------------


def _tell_driver(
    kind: str,
    driver: User,
    compose: Callable[[], tuple[str, str]],
    path: str,
    *,
    key: str,
    template: str | None = None,
    context: Callable[[], dict[str, object]] = dict,
) -> list[OutboxMessage]:
    """Write `compose()` (title, detail; in the driver's language) to each channel the
    driver wants for `kind` (`to_channels`): email (title as subject; as text the email
    `template` rendered with `context()` and `url`, the absolute link, or else the
    detail and the link), the portal's list and a push (title, detail, link)."""
    url = settings.BILLING_PUBLIC_URL + path
    with translation.override(driver.language):
        title, detail = compose()
        if template is not None:
            text = render_to_string(template, {**context(), "user": driver, "url": url})
        else:
            text = f"{detail}\n\n{url}\n"
    channels = preferences.channels_for(driver, kind)
    return to_channels(
        kind, driver, channels, title, text, path, key=key, detail=detail, unsubscribe=kind
    )


def _owner(session: ChargingSession | None) -> User | None:
    """The active owner of the session's token: a guest or an ownerless tag is told
    nothing here."""
    driver = session.id_token.owner if session is not None and session.id_token else None
    return driver if driver is not None and driver.is_active else None


def tell_session_started(session_id: int) -> int:
    """Tell the driver their session started (by default in the portal only); how many
    messages were enqueued now (0 when told before)."""
    session = _sessions().filter(pk=session_id).first()
    driver = _owner(session)
    if driver is None:
        return 0

    def compose() -> tuple[str, str]:
        title = _("Charging started at %(place)s") % {"place": _place(session)}
        detail = _("Charger %(charger)s, connector %(connector)s") % {
            "charger": session.charge_point.charge_point_id,
            "connector": session.connector.connector_id if session.connector_id else "-",
        }
        return title, detail

    path = reverse("portal:session", args=[session.pk])
    key = f"session:{session.pk}:{preferences.SESSION_STARTED}"
    messages = _tell_driver(preferences.SESSION_STARTED, driver, compose, path, key=key)
    deliver_now(messages)
    return len(messages)


def tell_session_priced(charge_id: int) -> int:
    """Tell the driver what their ended session cost, from billing's frozen SessionCharge
    (by default in the portal only); how many messages were enqueued now."""
    charge = (
        SessionCharge.objects.select_related(
            "session__id_token__owner", "session__charge_point__site"
        )
        .filter(pk=charge_id)
        .first()
    )
    session = charge.session if charge is not None else None
    driver = _owner(session)
    if driver is None:
        return 0

    def compose() -> tuple[str, str]:
        title = _("Session at %(place)s ended") % {"place": _place(session)}
        energy = formats.number_format(
            Decimal(session.energy_wh or 0) / 1000, decimal_pos=2, use_l10n=True
        )
        if charge.currency:  # priced by a tariff
            detail = _("%(energy)s kWh, %(cost)s") % {
                "energy": energy,
                "cost": format_money(charge.gross, charge.currency),
            }
        else:
            detail = _("%(energy)s kWh, no charge") % {"energy": energy}
        return title, detail

    path = reverse("portal:session", args=[session.pk])
    key = f"session:{session.pk}:{preferences.SESSION_ENDED}"
    messages = _tell_driver(preferences.SESSION_ENDED, driver, compose, path, key=key)
    deliver_now(messages)
    return len(messages)


def tell_wallet_low(entry_id: int, balance: Decimal) -> int:
    """Tell the driver that a debit took their wallet below BILLING_WALLET_LOW_BALANCE
    (email and portal by default); once per debit. How many messages were enqueued."""
    entry = WalletEntry.objects.select_related("user").filter(pk=entry_id).first()
    driver = entry.user if entry is not None and entry.user.is_active else None
    if driver is None:
        return 0

    def compose() -> tuple[str, str]:
        title = _("Your wallet is running low")
        detail = _(
            "Your wallet holds %(balance)s. Top it up so that your next session is not refused."
        ) % {"balance": format_money(balance)}
        return title, detail

    path = reverse("portal:money-wallet")
    key = f"wallet-low:{entry.pk}"
    messages = _tell_driver(preferences.WALLET_LOW, driver, compose, path, key=key)
    deliver_now(messages)
    return len(messages)


# --- Bookings (charging/bookings.py) -------------------------------------------------------


def _booking_place(booking: Booking) -> tuple[str, str]:
    """(place, "charger, connector, slot") of a booking, in the active language."""
    charge_point = booking.connector.charge_point
    place = charge_point.site.name if charge_point.site else charge_point.charge_point_id
    detail = _("Charger %(charger)s, connector %(connector)s, %(start)s to %(end)s") % {
        "charger": charge_point.charge_point_id,
        "connector": booking.connector.connector_id,
        "start": formats.date_format(
            timezone.localtime(booking.starts_at), "SHORT_DATETIME_FORMAT"
        ),
        "end": formats.time_format(timezone.localtime(booking.ends_at), "TIME_FORMAT"),
    }
    return place, detail


def _bookings() -> QuerySet[Booking]:
    return Booking.objects.select_related("user", "connector__charge_point__site")


def tell_booking_confirmed(booking_id: int) -> int:
    """Confirm a booking to its driver (email and portal by default); how many messages
    were enqueued now (0 when told before)."""
    booking = _bookings().filter(pk=booking_id).first()
    if booking is None or not booking.user.is_active:
        return 0

    def compose() -> tuple[str, str]:
        place, detail = _booking_place(booking)
        return _("Booked: %(place)s") % {"place": place}, detail

    key = f"booking:{booking.pk}:confirmed"
    path = reverse("portal:reservations")
    messages = _tell_driver(preferences.BOOKINGS, booking.user, compose, path, key=key)
    deliver_now(messages)
    return len(messages)


def tell_booking_missed(booking_id: int) -> int:
    """Tell the driver their booking ended unused, and the no-show fee if one was
    charged; how many messages were enqueued now."""
    booking = _bookings().filter(pk=booking_id, status=Booking.Status.NO_SHOW).first()
    if booking is None or not booking.user.is_active:
        return 0

    def compose() -> tuple[str, str]:
        place, detail = _booking_place(booking)
        title = _("Your booking at %(place)s ended unused") % {"place": place}
        if booking.fee_charged:
            # Collected after commit by the payer's method; its receipt or a card failure
            # is told separately, so this says what is due, not that it was paid.
            fee = _("A no-show fee of %(fee)s applies, paid the way you pay for charging.") % {
                "fee": format_money(booking.fee_charged)
            }
        else:
            fee = _("No fee was charged.")
        return title, f"{detail}. {fee}"

    key = f"booking:{booking.pk}:missed"
    path = reverse("portal:reservations")
    messages = _tell_driver(preferences.BOOKINGS, booking.user, compose, path, key=key)
    deliver_now(messages)
    return len(messages)


def _already_told(keys: Iterable[str]) -> set[str]:
    """Of these `_tell_driver` keys, those already in the outbox on some channel (the
    in-portal message's key ends in ":portal"): one query for a beat task's batch."""
    keys = list(keys)
    sent = set(
        OutboxMessage.objects.filter(
            key__in=[*keys, *(f"{key}:portal" for key in keys)]
        ).values_list("key", flat=True)
    )
    return {key for key in keys if key in sent or f"{key}:portal" in sent}


def remind_bookings(now: datetime | None = None) -> int:
    """Remind each driver of their booking NOTIFICATIONS_BOOKING_REMINDER_MINUTES before
    it starts (the beat task, every minute); how many messages were enqueued now.

    Once per booking: the outbox key, however often or late the beat runs, as long as
    the slot has not started. Not for a cancelled booking, nor one made inside the
    reminder's time (its confirmation was just sent)."""
    now = now or timezone.now()
    ahead = timedelta(minutes=settings.NOTIFICATIONS_BOOKING_REMINDER_MINUTES)
    due = list(
        _bookings().filter(
            status=Booking.Status.BOOKED,
            starts_at__gt=now,
            starts_at__lte=now + ahead,
            created_at__lte=F("starts_at") - ahead,
            user__is_active=True,
        )
    )
    keys = {booking.pk: f"booking:{booking.pk}:reminder" for booking in due}
    told = _already_told(keys.values())
    enqueued = 0
    for booking in due:
        key = keys[booking.pk]
        if key in told:
            continue

        def compose(booking: Booking = booking) -> tuple[str, str]:
            place, detail = _booking_place(booking)
            return _("Your booking at %(place)s starts soon") % {"place": place}, detail

        def context(booking: Booking = booking) -> dict[str, object]:
            return {
                "booking": booking,
                "starts_at": timezone.localtime(booking.starts_at),
                "lead_minutes": settings.BOOKING_LEAD_MINUTES,
            }

        messages = _tell_driver(
            preferences.BOOKING_REMINDER,
            booking.user,
            compose,
            reverse("portal:reservations"),
            key=key,
            template="notifications/email/booking_reminder.txt",
            context=context,
        )
        deliver_now(messages)
        enqueued += len(messages)
    return enqueued


# --- Idle fee starts soon (the car stopped drawing power) ---------------------------------


def tell_idle_fee_soon(session_id: int, now: datetime | None = None) -> int:
    """Warn the driver NOTIFICATIONS_IDLE_FEE_WARNING_MINUTES before their session's idle
    fee starts (at once when the tariff's grace period is shorter); how many messages
    were enqueued now.

    Asked when the charger reports SuspendedEV and by the beat task every minute
    (`warn_idle_fees`): sent only while the session runs and the car is still not
    drawing power, once per session (the outbox key)."""
    now = now or timezone.now()
    session = _sessions().filter(pk=session_id, status=ChargingSession.Status.ACTIVE).first()
    driver = _owner(session)
    if driver is None or session.connector.status != Connector.Status.SUSPENDED_EV:
        return 0  # ended, or charging again
    idle_fee = _idle_fee(session, driver)
    if idle_fee is None:
        return 0
    prices, idle_from = idle_fee
    warning = timedelta(minutes=settings.NOTIFICATIONS_IDLE_FEE_WARNING_MINUTES)
    if now < idle_from - warning:
        return 0  # too early: the beat task asks again

    def compose() -> tuple[str, str]:
        at = timezone.localtime(idle_from, ZoneInfo(prices.time_zone))
        title = _("Idle fee soon at %(place)s") % {"place": _place(session)}
        detail = _("From %(time)s an idle fee of %(fee)s per minute applies until you unplug.") % {
            "time": formats.time_format(at, "TIME_FORMAT"),
            "fee": format_money(prices.idle_fee_per_minute.gross, prices.currency),
        }
        return title, detail

    def context() -> dict[str, object]:
        return {
            "session": session,
            "site": session.charge_point.site,
            "fee": format_money(prices.idle_fee_per_minute.gross, prices.currency),
            "idle_from": timezone.localtime(idle_from, ZoneInfo(prices.time_zone)),
        }

    messages = _tell_driver(
        preferences.IDLE_FEE_SOON,
        driver,
        compose,
        reverse("portal:session", args=[session.pk]),
        key=f"session:{session.pk}:{preferences.IDLE_FEE_SOON}",
        template="notifications/email/idle_fee_soon.txt",
        context=context,
    )
    deliver_now(messages)
    return len(messages)


def warn_idle_fees(now: datetime | None = None) -> int:
    """The beat task: `tell_idle_fee_soon` for each running session whose car is not
    drawing power and whose driver was not warned yet; how many messages were enqueued."""
    now = now or timezone.now()
    sessions = ChargingSession.objects.filter(
        status=ChargingSession.Status.ACTIVE,
        connector__status=Connector.Status.SUSPENDED_EV,
        id_token__owner__isnull=False,
    ).values_list("pk", flat=True)
    keys = {pk: f"session:{pk}:{preferences.IDLE_FEE_SOON}" for pk in sessions}
    told = _already_told(keys.values())
    return sum(tell_idle_fee_soon(pk, now) for pk, key in keys.items() if key not in told)


# --- Saved card expiring (billing/payments.py) --------------------------------------------


def tell_cards_expiring(today: date | None = None) -> int:
    """Tell each driver whose saved card expires this month or next how to save a new
    one (the daily beat task); once per card and expiry date (the outbox key). How many
    messages were enqueued now."""
    today = today or timezone.localdate()
    enqueued = 0
    for driver, card in expiring_cards(today):
        if not driver.is_active:
            continue

        def compose(card: "SavedCard" = card) -> tuple[str, str]:
            title = _("Your card ending %(last4)s expires soon") % {"last4": card.last4}
            detail = _(
                "Your card ending %(last4)s expires at the end of %(month)02d/%(year)s. Save "
                "a new card so that your charging can still be paid."
            ) % {"last4": card.last4, "month": card.exp_month, "year": card.exp_year}
            return title, detail

        messages = _tell_driver(
            preferences.CARD_EXPIRING,
            driver,
            compose,
            reverse("portal:money-card"),
            key=f"card-expiring:{card.id}:{card.exp_year}-{card.exp_month:02d}",
            template="notifications/email/card_expiring.txt",
            context=lambda card=card: {"card": card},
        )
        deliver_now(messages)
        enqueued += len(messages)
    return enqueued


# --- Staff: a payer blocked by repeated payment failures ----------------------------------


def tell_staff_payer_blocked(account_id: int) -> int:
    """Tell the finance staff, on their channels, that a payer's card payments failed
    often enough to block them (billing/standing.py), by email in the digest of those
    who chose it; how many messages were written now."""
    account = BillingAccount.objects.select_related("user").filter(pk=account_id).first()
    if account is None:
        return 0
    attempts = failed_payment_attempts(account)
    staff = staff_to_tell(preferences.PAYER_BLOCKED)
    url = settings.BILLING_PUBLIC_URL + reverse(
        "admin:billing_billingaccount_change", args=[account.pk]
    )
    messages = []
    for member in staff:
        with translation.override(member.language):
            subject = _("Payments failing: %(payer)s is blocked") % {"payer": account}
            body = _(
                "%(payer)s: %(count)s failed card payments on unpaid sessions. Their cards "
                "and tags cannot start sessions until the debt is paid."
            ) % {"payer": account, "count": attempts}
        key = f"payer-blocked:{account.pk}:{attempts}:{member.pk}"
        text = f"{body}\n\n{url}\n"
        messages += staff_alert(preferences.PAYER_BLOCKED, member, subject, text, key=key)
    deliver_now(messages)
    return len(messages)
