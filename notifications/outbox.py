"""The outbox: every notification is a row first, then a delivery (docs/architecture.md).

`enqueue()` writes an OutboxMessage in the caller's transaction, so a message exists if
and only if the change that caused it was committed; after commit it is handed to Celery
(`deliver_task`). `deliver()` claims the message by a conditional UPDATE
(pending and due, or claimed by a worker whose lease ran out), sends it through the
channel's transport (notifications/transports.py) and records the outcome: sent, due
again after a backoff, or failed for good after NOTIFICATIONS_MAX_ATTEMPTS. The beat
task `deliver_pending` sends what a dead worker or a broker that was down left behind.

The unique key makes an event enqueued twice (a retried task, a retransmitted frame)
one message; the claim makes it one delivery.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from notifications.models import OutboxMessage
from notifications.transports import transport_for
from users.models import User

logger = logging.getLogger(__name__)

State = OutboxMessage.State

# The longest wait between two attempts: a mail server down for a day is tried hourly.
MAX_BACKOFF = timedelta(hours=1)


def enqueue(
    kind: str,
    recipient: User | None,
    channel: str,
    payload: dict[str, Any],
    key: str,
    *,
    deliver_after_commit: bool = True,
    not_before: datetime | None = None,
) -> OutboxMessage | None:
    """Write a message to deliver, in the caller's transaction; None when a message with
    this key exists already (the event was enqueued before).

    After commit the message is queued for Celery; a caller that is itself a worker may
    pass deliver_after_commit=False and call `deliver()` itself. A broker that is down
    loses nothing: the beat sweep finds the message.
    """
    transport_for(channel)  # an unknown channel is a programming error: KeyError
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                kind=kind,
                channel=channel,
                recipient=recipient,
                payload=payload,
                key=key,
                next_attempt_at=not_before or timezone.now(),
            )
    except IntegrityError:
        return None  # the same key: enqueued before, by this event or its retry
    if deliver_after_commit:
        transaction.on_commit(lambda: _queue(message.pk, message.next_attempt_at), robust=True)
    return message


def _queue(message_id: int, at: datetime) -> None:
    try:
        deliver_task.apply_async((message_id,), eta=at if at > timezone.now() else None)
    except Exception:
        # The broker is down: the message waits in the table for the sweep.
        logger.exception("Outbox message %s not queued; the sweep will send it", message_id)


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 1, 2, 4, ... minutes, at most an hour."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _claimable(now: datetime) -> Q:
    """Pending and due, or claimed by a worker that has not finished in its lease (it
    died, or its process was killed mid-delivery)."""
    return Q(state=State.PENDING, next_attempt_at__lte=now) | Q(
        state=State.SENDING, claimed_until__lt=now
    )


def claim(message_id: int, now: datetime | None = None) -> OutboxMessage | None:
    """Take the message for this worker, or None when it is not ours to send (sent,
    failed, not due, or claimed by a live worker). One conditional UPDATE: of two
    workers, one wins."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS)
    claimed = (
        OutboxMessage.objects.filter(_claimable(now), pk=message_id).update(
            state=State.SENDING, claimed_until=now + lease, attempts=F("attempts") + 1
        )
        == 1
    )
    return OutboxMessage.objects.select_related("recipient").get(pk=message_id) if claimed else None


def deliver(message_id: int, now: datetime | None = None) -> str | None:
    """Send one message if it is ours to send; None when sent now (or not ours), else
    what went wrong (the message is due again after a backoff, or failed for good)."""
    now = now or timezone.now()
    message = claim(message_id, now)
    if message is None:
        return None
    try:
        error = transport_for(message.channel).send(message)
    except Exception as exc:  # a bug in a transport must not leave the message claimed
        logger.exception("Outbox message %s: the transport failed", message.pk)
        error = str(exc) or exc.__class__.__name__
    claimed = OutboxMessage.objects.filter(pk=message.pk, state=State.SENDING)
    if error is None:
        claimed.update(state=State.SENT, sent_at=timezone.now(), claimed_until=None, last_error="")
        return None
    if message.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
        claimed.update(state=State.FAILED, claimed_until=None, last_error=error[:2000])
        logger.warning("Outbox message %s failed for good: %s", message.pk, error)
    else:
        claimed.update(
            state=State.PENDING,
            claimed_until=None,
            last_error=error[:2000],
            # From the attempt's time (the sweep's clock), not the end of a slow send.
            next_attempt_at=max(now, timezone.now()) + backoff(message.attempts),
        )
    return error


def due(now: datetime | None = None, limit: int = 500) -> list[int]:
    """The messages the sweep should try now, oldest first."""
    now = now or timezone.now()
    return list(
        OutboxMessage.objects.filter(_claimable(now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_pending(now: datetime | None = None) -> int:
    """Send every due message here (the beat task); returns how many were sent."""
    sent = 0
    for message_id in due(now):
        if deliver(message_id, now) is None:
            sent += 1
    return sent


def resend(messages: QuerySet[OutboxMessage]) -> int:
    """Staff's "resend": failed (or pending) messages due now with their attempts
    counted afresh; returns how many. Sent ones are left alone (that would send twice),
    and so are those a worker holds now."""
    # Not one a worker holds now either: it may be sending it this moment.
    resendable = [State.FAILED, State.PENDING]
    ids = list(messages.filter(state__in=resendable).values_list("pk", flat=True))
    OutboxMessage.objects.filter(pk__in=ids, state__in=resendable).update(
        state=State.PENDING, attempts=0, next_attempt_at=timezone.now(), claimed_until=None
    )
    for message_id in ids:
        transaction.on_commit(lambda pk=message_id: _queue(pk, timezone.now()), robust=True)
    return len(ids)


@shared_task(name="notifications.outbox.deliver")
def deliver_task(message_id: int) -> None:
    """Deliver one message (Celery); a failure is queued again for when it is due after
    the backoff (and found by the beat sweep if the broker loses it)."""
    if deliver(message_id) is not None:
        message = OutboxMessage.objects.filter(pk=message_id, state=State.PENDING).first()
        if message is not None:
            deliver_task.apply_async((message_id,), eta=message.next_attempt_at)
