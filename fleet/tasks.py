"""Celery tasks of fleet: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connections

from fleet import campaigns, configuration
from fleet.models import FirmwareCampaign
from stations import batches
from stations.tasks import beside_the_charger

logger = logging.getLogger(__name__)


def _soon(task: Any, function: Callable[[Any], Any], argument: Any) -> None:
    """Queue `task(argument)`; where Celery runs inline (tests), beside the charger whose
    message led here (stations.tasks.beside_the_charger)."""
    if task.app.conf.task_always_eager:
        beside_the_charger(_in_thread, function, argument)
    else:
        task.delay(argument)


def _in_thread(function: Callable[[Any], Any], argument: Any) -> None:
    try:
        function(argument)
    except Exception:
        logger.exception("%s(%r) failed", function.__name__, argument)
    finally:
        connections.close_all()


def advance_soon(campaign_id: int) -> None:
    _soon(advance_campaign, campaigns.advance, campaign_id)


@shared_task
def advance_campaign(campaign_id: int) -> None:
    campaigns.advance(campaign_id)


@shared_task
def advance_campaigns() -> int:
    """Every running campaign: its pause over, its time-outs, chargers no longer busy."""
    running = list(
        FirmwareCampaign.objects.filter(status=FirmwareCampaign.Status.RUNNING).values_list(
            "pk", flat=True
        )
    )
    for campaign_id in running:
        campaigns.advance(campaign_id)
    return len(running)


@shared_task
def read_due_configurations() -> int:
    """GetConfiguration of the connected chargers not read for a while or since their
    boot, side by side, at most FLEET_CONFIGURATION_READS_PER_RUN of them, none asked
    again within FLEET_CONFIGURATION_RETRY_MINUTES (configuration.claim_due)."""
    due = configuration.claim_due(settings.FLEET_CONFIGURATION_READS_PER_RUN)
    if due:
        batches.in_parallel(_read_and_close, due)
    logger.info("read_due_configurations: %d charger(s)", len(due))
    return len(due)


@shared_task
def read_configuration(charge_point_id: str) -> bool:
    """What a boot queued before the beat task read booted chargers: kept so that tasks an
    older release queued during a rolling deploy still run."""
    return configuration.read(charge_point_id)


def _read_and_close(charge_point_id: str) -> None:
    try:
        configuration.read(charge_point_id)
    finally:
        connections.close_all()
