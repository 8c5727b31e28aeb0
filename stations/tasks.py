"""Celery tasks of the stations app: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import logging

from celery import shared_task

from stations import batches, liveness, retention

logger = logging.getLogger(__name__)


@shared_task
def mark_silent_chargers_offline() -> int:
    marked = liveness.mark_silent_chargers_offline()
    logger.info("mark_silent_chargers_offline: %d charger(s) marked offline", marked)
    return marked


@shared_task
def close_stale_sessions() -> int:
    closed = liveness.close_stale_sessions()
    logger.info("close_stale_sessions: %d session(s) closed", closed)
    return closed


@shared_task
def prune_message_log() -> int:
    deleted = retention.prune_message_log()
    logger.info("prune_message_log: %d log entries deleted", deleted)
    return deleted


@shared_task
def run_command_batch(batch_id: int) -> None:
    batches.run(batch_id)
