"""Celery tasks of the stations app: thin wrappers; the rules live in their modules.

Scheduled in chargehub/celery.py (beat_schedule).
"""

import logging
import threading
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connections, transaction

from stations import (
    batches,
    certificates,
    liveness,
    load_balancing,
    local_list,
    operations,
    partitions,
    retention,
)

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
def prune_meter_samples() -> int:
    deleted = retention.prune_meter_samples()
    logger.info("prune_meter_samples: %d samples deleted", deleted)
    return deleted


@shared_task
def create_partitions() -> list[str]:
    return partitions.create_ahead()


@shared_task
def run_command_batch(batch_id: int) -> None:
    batches.run(batch_id)


def allocate_soon(site_id: int | None) -> None:
    """Ask for a smart charging run of a managed site, debounced (load_balancing.py)."""
    if load_balancing.mark_requested(site_id):
        transaction.on_commit(lambda: _queue_allocation(site_id))


def _queue_allocation(site_id: int) -> None:
    if allocate_site.app.conf.task_always_eager:
        beside_the_charger(_allocate_in_thread, site_id)
    else:
        allocate_site.apply_async((site_id,), countdown=settings.SMART_CHARGING_DEBOUNCE)


def beside_the_charger(function: Callable[..., Any], *args: Any) -> None:
    """Run `function(*args)` in a thread of its own, where Celery runs inline (tests).

    Inline, the work would happen inside the charger's own request (a session started, a
    status received), and its consumer cannot send that charger a command before it has
    answered: a worker does it in production, a thread beside it here. `function` closes
    its own database connections.
    """
    threading.Thread(target=function, args=args, daemon=True).start()


def _allocate_in_thread(site_id: int) -> None:
    try:
        load_balancing.run(site_id)
    except Exception:
        logger.exception("Smart charging of site %s failed", site_id)
    finally:
        connections.close_all()  # this thread ends here: its connection with it


def resume_batches_soon(charge_point_id: str) -> None:
    """Send a charger that reconnected what batches kept for it (batches.resume), beside
    its consumer: the consumer is still accepting it."""
    if resume_batches.app.conf.task_always_eager:
        beside_the_charger(_resume_in_thread, charge_point_id)
    else:
        resume_batches.delay(charge_point_id)


def _resume_in_thread(charge_point_id: str) -> None:
    try:
        batches.resume(charge_point_id)
    except Exception:
        logger.exception("Resuming the batches of %s failed", charge_point_id)
    finally:
        connections.close_all()


@shared_task
def resume_batches(charge_point_id: str) -> int:
    return batches.resume(charge_point_id)


@shared_task
def allocate_site(site_id: int) -> int:
    return load_balancing.run(site_id)


@shared_task
def allocate_changed_limits() -> int:
    # Limits that began or lapsed, and drivers' plans that start or pause charging.
    changed = sorted({*load_balancing.changed_limits(), *load_balancing.plans_changing()})
    for site_id in changed:
        allocate_soon(site_id)
    logger.info("allocate_changed_limits: %d site(s) asked for", len(changed))
    return len(changed)


def sync_local_list_soon(charge_point_ids: list[int]) -> None:
    """Ask for a sync of these chargers' local lists after commit, debounced
    (LOCAL_LIST_DEBOUNCE s: several token changes, one SendLocalList)."""
    if charge_point_ids:
        ids = list(charge_point_ids)
        transaction.on_commit(lambda: _queue_local_lists(ids))


def _queue_local_lists(charge_point_ids: list[int]) -> None:
    if sync_local_lists.app.conf.task_always_eager:
        beside_the_charger(_sync_lists_in_thread, charge_point_ids)
    else:
        sync_local_lists.apply_async((charge_point_ids,), countdown=settings.LOCAL_LIST_DEBOUNCE)


def _sync_lists_in_thread(charge_point_ids: list[int]) -> None:
    try:
        _sync_lists(charge_point_ids)
    except Exception:
        logger.exception("Local list sync of %s failed", charge_point_ids)
    finally:
        connections.close_all()  # this thread ends here: its connection with it


def _sync_lists(charge_point_ids: list[int]) -> int:
    outcomes = {pk: local_list.sync(pk) for pk in charge_point_ids}
    sync_local_list_soon([pk for pk, outcome in outcomes.items() if outcome == local_list.AGAIN])
    return sum(outcome == local_list.SYNCED for outcome in outcomes.values())


@shared_task
def sync_local_lists(charge_point_ids: list[int]) -> int:
    return _sync_lists(charge_point_ids)


@shared_task
def sweep_local_lists() -> int:
    """What no signal tells (billing's refusal of a token changed): every connected
    charger whose list ChargeHub keeps gets the differences."""
    synced = _sync_lists(local_list.managed_and_connected())
    logger.info("sweep_local_lists: %d charger(s) in step", synced)
    return synced


def sign_certificate_soon(charge_point_id: str, csr: str) -> None:
    """Sign a charger's CSR and send it back (signals.certificate_signing_requested comes
    after the commit of the SignCertificate it answered)."""
    if sign_certificate.app.conf.task_always_eager:
        beside_the_charger(_sign_in_thread, charge_point_id, csr)
    else:
        sign_certificate.delay(charge_point_id, csr)


def _sign_in_thread(charge_point_id: str, csr: str) -> None:
    try:
        operations.sign_certificate(charge_point_id, csr)
    except Exception:
        logger.exception("Signing the CSR of %s failed", charge_point_id)
    finally:
        connections.close_all()  # this thread ends here: its connection with it


@shared_task
def sign_certificate(charge_point_id: str, csr: str) -> None:
    operations.sign_certificate(charge_point_id, csr)


@shared_task
def renew_expiring_certificates() -> int:
    asked = operations.request_certificate_renewals(certificates.due_for_renewal())
    logger.info("renew_expiring_certificates: %d charger(s) asked for a new CSR", asked)
    return asked
