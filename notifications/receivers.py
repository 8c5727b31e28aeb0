"""What notifications does when stations reports something (stations/signals.py): queue
the emails notifications/events.py writes. The charger's request never waits for an SMTP
server (these run in it, after commit), and a broker that is down must not fail it.
"""

import logging
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse

from billing import tariffs
from billing.models import BillingAccount, SessionCharge, WalletEntry
from billing.signals import email_ready, payer_blocked, session_priced, wallet_low
from charging.signals import booking_confirmed, booking_missed
from notifications import events, outbox, preferences, webhooks
from notifications.models import NearbyWatch, SessionNotice, Watch, WebhookEndpoint
from notifications.tasks import (
    notify_watchers,
    tell_booking_confirmed,
    tell_booking_missed,
    tell_car_stopped,
    tell_idle_fee_soon,
    tell_nearby_watchers,
    tell_session_finished,
    tell_session_priced,
    tell_session_started,
    tell_session_waiting,
    tell_staff_payer_blocked,
    tell_wallet_low,
)
from stations.models import Booking, ChargePoint, ChargingSession, Connector
from stations.signals import (
    charge_point_connected,
    charge_point_disconnected,
    connector_status_changed,
    meter_values_received,
    session_ended,
    session_started,
    session_waiting,
)
from users.models import User

logger = logging.getLogger(__name__)

# The preference that decides each of billing's emails (billing/signals.py `kind`).
BILLING_KINDS = {
    "receipt": preferences.RECEIPTS,
    "invoice": preferences.INVOICES,
    "credit_note": preferences.INVOICES,
    "payment_failed": preferences.PAYMENT_PROBLEMS,
}


@receiver(connector_status_changed, sender=Connector, dispatch_uid="notifications.connector_free")
def connector_freed(
    sender: type[Connector], connector: Connector, previous_status: str, **kwargs: Any
) -> None:
    """Queue the emails of those who wait for this connector, and the matching of "a free
    charger near me" watches, when it becomes Available; the charger's answer never
    waits for an SMTP server (this runs in its request, after commit). One statement
    asks whether anyone waits for either, on every change to Available (anyone_waiting)."""
    if connector.status != Connector.Status.AVAILABLE:
        return
    watched, nearby = anyone_waiting(connector.pk)
    if watched:
        try:
            notify_watchers.delay(connector.pk)
        except Exception:
            # A broker that is down must not fail the charger's StatusNotification; the
            # watches stay open and the next change to Available tries again.
            logger.exception("Could not queue the watchers of connector %s", connector.pk)
    if nearby:
        try:
            tell_nearby_watchers.delay(connector.pk)
        except Exception:
            # The watches stay, and the next connector freed near the driver tells them.
            logger.exception("Could not queue the nearby watchers of connector %s", connector.pk)


def anyone_waiting(connector_id: int) -> tuple[bool, bool]:
    """Whether anyone waits for this connector (a Watch not yet told), and whether anyone
    has a "free charger near me" watch at all (NearbyWatch): the ORM's `Exists` of each
    in one statement whose SQL is built once per process. Asked on every change to
    Available, in the charger's call, where the ORM's query, compiled each time, cost
    about 1 ms of it (docs/performance.md, "Third session")."""
    with connection.cursor() as cursor:
        cursor.execute(_waiting_sql(), [connector_id])
        watched, nearby = cursor.fetchone()
    return bool(watched), bool(nearby)


@cache
def _waiting_sql() -> str:
    quote = connection.ops.quote_name
    watch = quote(Watch._meta.db_table)
    connector = quote(Watch._meta.get_field("connector").column)
    notified_at = quote(Watch._meta.get_field("notified_at").column)
    return (
        f"SELECT EXISTS (SELECT 1 FROM {watch} WHERE {connector} = %s"
        f" AND {notified_at} IS NULL),"
        f" EXISTS (SELECT 1 FROM {quote(NearbyWatch._meta.db_table)})"
    )


@receiver(session_ended, sender=ChargingSession, dispatch_uid="notifications.session_finished")
def session_ended_received(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    """Queue the "charging finished" email; the charger's StopTransaction never waits for
    an SMTP server (this runs in its request, after commit)."""
    # driver_id, not the token: a task for an ownerless tag would tell nobody, and
    # publishing it is most of this listener's cost (docs/performance.md).
    # closed_by first: a session a rule closed may not have its token read with it.
    if session.closed_by != "charger" or session.driver_id is None:
        return  # nobody to tell, or a rule closed it (see tell_session_finished)
    try:
        tell_session_finished.delay(session.pk)
    except Exception:
        # A broker that is down must not fail the charger's StopTransaction: the driver
        # misses one email, nothing else.
        logger.exception("Could not queue the charging finished email of session %s", session.pk)


@receiver(connector_status_changed, sender=Connector, dispatch_uid="notifications.car_stopped")
def car_stopped_received(
    sender: type[Connector], connector: Connector, previous_status: str, **kwargs: Any
) -> None:
    """Queue the "your car has stopped charging" email and the idle fee warning when the
    car stops drawing during its session (SuspendedEV, OCPP 1.6 §7.7). Finishing is not
    asked about: the session has already stopped then, and the "charging finished"
    email follows. Both are about an idle fee: where no tariff has one, nothing is
    asked or queued (billing/tariffs.py any_idle_fee, no query)."""
    if connector.status != Connector.Status.SUSPENDED_EV or not tariffs.any_idle_fee():
        return
    session_id = (
        ChargingSession.objects.filter(
            connector=connector,
            status=ChargingSession.Status.ACTIVE,
            id_token__owner__isnull=False,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if session_id is None:
        return
    _queue_car_stopped(session_id)


@receiver(
    meter_values_received, sender=ChargingSession, dispatch_uid="notifications.car_stopped.meter"
)
def car_stopped_measured(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    """Ask again on each MeterValues while the connector is SuspendedEV and the driver was
    not told yet: the idle fee starts when the samples show the car stopped
    (billing/tariffs.py idle_fee_starts), and they may come after the status. Without
    any tariff with an idle fee, the tasks would tell nobody: none is queued."""
    if session.driver_id is None or session.connector_id is None:
        return  # an ownerless tag: nobody to tell
    if session.connector.status != Connector.Status.SUSPENDED_EV or not tariffs.any_idle_fee():
        return
    told = SessionNotice.objects.filter(session=session, kind=SessionNotice.Kind.CAR_STOPPED)
    if not told.exists():
        _queue_car_stopped(session.pk)


def _queue_car_stopped(session_id: int) -> None:
    try:
        tell_car_stopped.delay(session_id)
    except Exception:
        logger.exception("Could not queue the car stopped email of session %s", session_id)
    # A grace period shorter than the warning: warned now (else by the beat task).
    _queue(tell_idle_fee_soon, session_id)


@receiver(email_ready, dispatch_uid="notifications.billing_email")
def billing_email_ready(
    sender: object,
    *,
    kind: str,
    user: User | None,
    to: str,
    language: str,
    subject: str,
    body: str,
    reply_to: list[str],
    document: int | None,
    key: str,
    may_decline: bool,
    **kwargs: Any,
) -> bool:
    """Put billing's email (a document, a failed payment) in the outbox and send it;
    True when it will leave. The driver's channels for its kind decide
    (notifications/preferences.py: a receipt may go to the portal's list or a push
    instead, payment problems and invoices are always emailed); billing's own resend
    (`may_decline` false) is always emailed. A guest or a fleet gets the email."""
    preference = BILLING_KINDS.get(kind)
    channels = {preferences.EMAIL}
    if user is not None and preference is not None:
        channels = set(preferences.channels_for(user, preference))
        if not may_decline:
            channels.add(preferences.EMAIL)
    message = None
    if preferences.EMAIL in channels:
        payload: dict[str, Any] = {
            "to": to,
            "subject": subject,
            "text": body,
            "language": language,
            "reply_to": reply_to,
        }
        if document is not None:
            payload["document"] = document
        if kind == "receipt" and user is not None:
            payload["unsubscribe"] = str(preferences.RECEIPTS)  # RFC 8058 headers
        # A receipt can wait for the end of the driver's quiet hours; the rest cannot.
        not_before = preferences.after_quiet_hours(user, kind) if user is not None else None
        message = outbox.enqueue(
            kind, user, "email", payload, key, deliver_after_commit=False, not_before=not_before
        )
    listed = []
    if user is not None and channels - {preferences.EMAIL}:
        # The portal's list and a push link the document's PDF (or the card page, where a
        # failed payment is fixed); once per document, however often it is emailed.
        if document is not None:
            path, once = reverse("billing:invoice-pdf", args=[document]), f"document:{document}"
        else:
            path, once = reverse("portal:money-card"), key
        listed = events.to_channels(
            kind, user, channels - {preferences.EMAIL}, subject, "", path, key=once
        )
    # Sent here once billing's change commits (its callers are workers, or staff's
    # "Email again" who expect it sent now); rolled back, the rows and email go too.
    transaction.on_commit(lambda: events.deliver_now([message, *listed]), robust=True)
    return preferences.EMAIL in channels


@receiver(session_waiting, sender=ChargingSession, dispatch_uid="notifications.session_waiting")
def session_waiting_received(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    """Queue the "your car waits" email: smart charging cannot serve the session now."""
    if session.id_token_id is None:
        return
    try:
        tell_session_waiting.delay(session.pk)
    except Exception:
        logger.exception("Could not queue the waiting email of session %s", session.pk)


def _queue(task: Any, *args: object) -> None:
    # Runs in the charger's request or billing's worker, after commit: a broker that is
    # down must not fail it (the driver misses one message, nothing else).
    try:
        task.delay(*args)
    except Exception:
        logger.exception("Could not queue %s%s", task.name, args)


@receiver(session_started, sender=ChargingSession, dispatch_uid="notifications.session_started")
def session_started_received(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    """Queue "charging started" for the token's owner; none for an ownerless tag."""
    if session.driver_id is not None:
        _queue(tell_session_started, session.pk)


@receiver(session_priced, sender=SessionCharge, dispatch_uid="notifications.session_priced")
def session_priced_received(
    sender: type[SessionCharge], charge: SessionCharge, **kwargs: Any
) -> None:
    """Queue "session ended, with its cost" once billing has frozen the price."""
    _queue(tell_session_priced, charge.pk)


@receiver(wallet_low, sender=WalletEntry, dispatch_uid="notifications.wallet_low")
def wallet_low_received(
    sender: type[WalletEntry], entry: WalletEntry, balance: Decimal, **kwargs: Any
) -> None:
    """Queue "wallet running low" for the driver whose debit crossed the threshold."""
    _queue(tell_wallet_low, entry.pk, str(balance))


@receiver(booking_confirmed, sender=Booking, dispatch_uid="notifications.booking_confirmed")
def booking_confirmed_received(sender: type[Booking], booking: Booking, **kwargs: Any) -> None:
    _queue(tell_booking_confirmed, booking.pk)


@receiver(booking_missed, sender=Booking, dispatch_uid="notifications.booking_missed")
def booking_missed_received(sender: type[Booking], booking: Booking, **kwargs: Any) -> None:
    _queue(tell_booking_missed, booking.pk)


@receiver(payer_blocked, sender=BillingAccount, dispatch_uid="notifications.payer_blocked")
def payer_blocked_received(
    sender: type[BillingAccount], account: BillingAccount, **kwargs: Any
) -> None:
    """Queue the finance staff's email: repeated payment failures blocked a payer."""
    _queue(tell_staff_payer_blocked, account.pk)


# --- Webhooks for integrators (notifications/webhooks.py) -------------------------------


@receiver(post_save, sender=WebhookEndpoint, dispatch_uid="notifications.webhook_saved")
@receiver(post_delete, sender=WebhookEndpoint, dispatch_uid="notifications.webhook_deleted")
def webhook_endpoint_changed(sender: type[WebhookEndpoint], **kwargs: Any) -> None:
    """Who listens to which event is read again (webhooks.any_listening): now, and once
    the change commits (a charger's call in between may have read the old endpoints)."""
    webhooks.forget_listening()
    transaction.on_commit(webhooks.forget_listening)


def _publish(event: str, data: Callable[[], dict[str, Any]]) -> None:
    # Runs in the charger's request, after commit: a failure here must not fail it.
    try:
        if webhooks.any_listening(event):
            webhooks.publish(event, data())
    except Exception:
        logger.exception("Webhook event %s not queued", event)


@receiver(connector_status_changed, sender=Connector, dispatch_uid="notifications.webhook_status")
def webhook_connector_status(
    sender: type[Connector], connector: Connector, previous_status: str, **kwargs: Any
) -> None:
    _publish(
        webhooks.CONNECTOR_STATUS_CHANGED,
        lambda: webhooks.connector_data(connector, previous_status),
    )


@receiver(session_started, sender=ChargingSession, dispatch_uid="notifications.webhook_started")
def webhook_session_started(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    _publish(webhooks.SESSION_STARTED, lambda: webhooks.session_data(session))


@receiver(session_ended, sender=ChargingSession, dispatch_uid="notifications.webhook_ended")
def webhook_session_ended(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    _publish(webhooks.SESSION_ENDED, lambda: webhooks.session_data(session))


@receiver(charge_point_connected, sender=ChargePoint, dispatch_uid="notifications.webhook_online")
def webhook_online(sender: type[ChargePoint], charge_point: ChargePoint, **kwargs: Any) -> None:
    _publish(webhooks.CHARGER_ONLINE, lambda: {"charge_point": charge_point.charge_point_id})


@receiver(
    charge_point_disconnected, sender=ChargePoint, dispatch_uid="notifications.webhook_offline"
)
def webhook_offline(sender: type[ChargePoint], charge_point: ChargePoint, **kwargs: Any) -> None:
    _publish(webhooks.CHARGER_OFFLINE, lambda: {"charge_point": charge_point.charge_point_id})
