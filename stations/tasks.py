"""Celery tasks of the stations app: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import asyncio
import logging
import threading

from asgiref.sync import SyncToAsync, sync_to_async
from celery import shared_task
from django.conf import settings
from django.db import connections, transaction

from stations import batches, liveness, load_balancing, retention

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


def allocate_soon(site_id: int | None) -> None:
    """Ask for a smart charging run of a managed site, debounced (load_balancing.py)."""
    if load_balancing.mark_requested(site_id):
        transaction.on_commit(lambda: _queue_allocation(site_id))


def _queue_allocation(site_id: int) -> None:
    if allocate_site.app.conf.task_always_eager:
        # Inline, the run would happen inside the charger's own request (a session
        # started), and its consumer cannot send that charger a profile before it has
        # answered: a worker does it in production, a thread beside it here. Started
        # from the server's event loop when there is one, so that its commands come back
        # to that loop: a channel layer on Redis refuses two loops receiving at once.
        loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
        if loop is not None and loop.is_running():
            run = sync_to_async(_allocate_in_thread, thread_sensitive=False)
            asyncio.run_coroutine_threadsafe(run(site_id), loop)
        else:
            threading.Thread(target=_allocate_in_thread, args=(site_id,), daemon=True).start()
    else:
        allocate_site.apply_async((site_id,), countdown=settings.SMART_CHARGING_DEBOUNCE)


def _allocate_in_thread(site_id: int) -> None:
    try:
        load_balancing.run(site_id)
    except Exception:
        logger.exception("Smart charging of site %s failed", site_id)
    finally:
        connections.close_all()  # this thread ends here: its connection with it


@shared_task
def allocate_site(site_id: int) -> int:
    return load_balancing.run(site_id)


@shared_task
def allocate_changed_limits() -> int:
    changed = load_balancing.changed_limits()
    for site_id in changed:
        allocate_soon(site_id)
    logger.info("allocate_changed_limits: %d site(s) asked for", len(changed))
    return len(changed)
