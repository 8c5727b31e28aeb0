"""What the portal does when stations reports something (stations/signals.py)."""

import logging
from typing import Any

from django.dispatch import receiver

from portal.tasks import push_session_figures
from stations import live
from stations.models import ChargingSession
from stations.signals import meter_values_received

logger = logging.getLogger(__name__)


@receiver(meter_values_received, sender=ChargingSession, dispatch_uid="portal.receivers.meter")
def send_figures(sender: type[ChargingSession], session: ChargingSession, **kwargs: Any) -> None:
    """Queue the session's live figures (portal/live_figures.py) for the pages watching
    it; none while no page does (a page that starts watching shows the figures it loaded
    and gets the next MeterValues')."""
    # A late MeterValues of an ended session changes nothing the page shows: it has
    # reloaded with the final figures when the session ended.
    if session.status != ChargingSession.Status.ACTIVE:
        return
    try:
        # Only the session's driver may watch it (stations.live): without one, nobody
        # is, and the figures (several queries) are not worth computing. Nor while no
        # page watches it (in any process): the task's publish alone costs the
        # charger's call about 1 ms, the read of who watches a few tenths of that.
        if session.driver_id is not None and live.is_watched(live.session_group(session.pk)):
            push_session_figures.delay(session.pk)
    except Exception:
        # A broker that is down must not fail the charger's MeterValues: the page shows
        # the next figures, or the final ones when the session ends.
        logger.exception("Live figures not queued for session %s", session.pk)
