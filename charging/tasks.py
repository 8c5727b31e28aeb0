"""Celery tasks of charging: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from charging import bookings
from stations import bookings as booked_slots
from stations.tasks import allocate_soon

logger = logging.getLogger(__name__)


@shared_task
def hold_and_end_bookings() -> tuple[int, int]:
    """Booked slots whose lead time has come are held; those that are over, closed; a
    site where a slot has just started gets a smart charging run to hold its share."""
    now = timezone.now()
    held = bookings.hold_due(now)
    ended = bookings.end_due(now)
    # The beat runs every minute; two minutes back, so that a late beat misses none.
    for site_id in booked_slots.sites_with_slots_turning(now - timedelta(minutes=2), now):
        allocate_soon(site_id)
    logger.info("hold_and_end_bookings: %d held, %d ended", held, ended)
    return held, ended
