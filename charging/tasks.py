"""Celery tasks of charging: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import logging

from celery import shared_task

from charging import bookings

logger = logging.getLogger(__name__)


@shared_task
def hold_and_end_bookings() -> tuple[int, int]:
    """Booked slots whose lead time has come are held; those that are over, closed."""
    held = bookings.hold_due()
    ended = bookings.end_due()
    logger.info("hold_and_end_bookings: %d held, %d ended", held, ended)
    return held, ended
