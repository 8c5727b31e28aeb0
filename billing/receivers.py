"""What billing does when stations reports something (stations/signals.py)."""

import logging
from typing import Any

from django.dispatch import receiver

from billing.tasks import settle_session
from stations.models import ChargingSession
from stations.signals import session_ended

logger = logging.getLogger(__name__)


@receiver(session_ended, sender=ChargingSession, dispatch_uid="billing.settle_session")
def settle_ended_session(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    """Queue the session's settlement; the charger's answer never waits for Stripe.

    A broker that is down must not fail the charger's StopTransaction: the session is
    picked up by the periodic settle_missed_sessions instead.
    """
    try:
        settle_session.delay(session.pk)
    except Exception:
        logger.exception("Could not queue the settlement of session %s", session.pk)
