"""Celery tasks of the notifications app: thin wrappers over notifications/events.py."""

from decimal import Decimal

from celery import shared_task

from notifications import events, nearby, outbox


@shared_task
def notify_watchers(connector_id: int) -> int:
    return events.notify_watchers(connector_id)


@shared_task
def tell_session_finished(session_id: int) -> bool:
    return events.tell_session_finished(session_id)


@shared_task
def tell_car_stopped(session_id: int) -> bool:
    return events.tell_car_stopped(session_id)


@shared_task
def tell_nearby_watchers(connector_id: int) -> int:
    return nearby.tell_watchers(connector_id)


@shared_task
def end_nearby_watches() -> int:
    return nearby.expire()


@shared_task
def deliver_pending() -> int:
    """The beat sweep: what a dead worker or a lost task left in the outbox."""
    return outbox.deliver_pending()


@shared_task
def tell_session_waiting(session_id: int) -> bool:
    return events.tell_session_waiting(session_id)


@shared_task
def tell_session_started(session_id: int) -> int:
    return events.tell_session_started(session_id)


@shared_task
def tell_session_priced(charge_id: int) -> int:
    return events.tell_session_priced(charge_id)


@shared_task
def tell_wallet_low(entry_id: int, balance: str) -> int:
    return events.tell_wallet_low(entry_id, Decimal(balance))


@shared_task
def tell_booking_confirmed(booking_id: int) -> int:
    return events.tell_booking_confirmed(booking_id)


@shared_task
def tell_booking_missed(booking_id: int) -> int:
    return events.tell_booking_missed(booking_id)


@shared_task
def tell_staff_payer_blocked(account_id: int) -> int:
    return events.tell_staff_payer_blocked(account_id)


@shared_task
def remind_bookings() -> int:
    return events.remind_bookings()


@shared_task
def tell_idle_fee_soon(session_id: int) -> int:
    return events.tell_idle_fee_soon(session_id)


@shared_task
def warn_idle_fees() -> int:
    return events.warn_idle_fees()


@shared_task
def tell_cards_expiring() -> int:
    return events.tell_cards_expiring()
