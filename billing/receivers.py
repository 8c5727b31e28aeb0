"""What billing does when stations reports something (stations/signals.py)."""

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing import tariffs
from billing.models import Tariff
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


@receiver(post_save, sender=Tariff, dispatch_uid="billing.tariff_saved")
@receiver(post_delete, sender=Tariff, dispatch_uid="billing.tariff_deleted")
def tariff_changed(sender: type[Tariff], **kwargs: Any) -> None:
    """Whether any tariff has an idle fee is read again (tariffs.any_idle_fee): now, and
    once the change commits (a charger's call in between may have read the old one)."""
    tariffs.forget_idle_fees()
    transaction.on_commit(tariffs.forget_idle_fees)
