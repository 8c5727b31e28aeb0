"""What billing does when stations reports something (stations/signals.py)."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing import settlement_batches, tariffs
from billing.models import Tariff
from stations.models import ChargingSession
from stations.signals import session_ended


@receiver(session_ended, sender=ChargingSession, dispatch_uid="billing.settle_session")
def settle_ended_session(
    sender: type[ChargingSession], session: ChargingSession, **kwargs: Any
) -> None:
    """Hand the session to this process's settlement batches: the charger's answer
    waits neither for Stripe nor for publishing a task (billing/settlement_batches.py).

    A broker that is down never fails the charger's StopTransaction: the batch is
    logged and the session picked up by the periodic settle_missed_sessions instead.
    """
    settlement_batches.add(session.pk)


@receiver(post_save, sender=Tariff, dispatch_uid="billing.tariff_saved")
@receiver(post_delete, sender=Tariff, dispatch_uid="billing.tariff_deleted")
def tariff_changed(sender: type[Tariff], **kwargs: Any) -> None:
    """Whether any tariff has an idle fee is read again (tariffs.any_idle_fee): now, and
    once the change commits (a charger's call in between may have read the old one)."""
    tariffs.forget_idle_fees()
    transaction.on_commit(tariffs.forget_idle_fees)
