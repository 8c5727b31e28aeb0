"""A command sent to many chargers at once: queued as a Celery task, run in parallel, each
charger's progress kept in a row (CommandBatchItem) for the live progress page.

One silent charger then costs its own timeout, not everyone's wait: the page returns at
once and the chargers are asked side by side.
"""

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chargehub.compiled_queries import CompiledQuery
from stations import operations
from stations.models import ChargePoint, CommandBatch, CommandBatchItem
from stations.ocpp import commands

logger = logging.getLogger(__name__)

# The commands a batch may run: operation(charge_point_id, *arguments, issued_by=, source=).
OPERATIONS: dict[str, Callable[..., Any]] = {
    "reset": operations.reset,
    "unlock_connector": operations.unlock_connector,
    "change_availability": operations.change_availability,
    "remote_start": operations.remote_start,
    "refresh_configuration": operations.refresh_configuration,
    "change_configuration": operations.change_configuration,
    "trigger_message": operations.trigger_message,
    "get_composite_schedule": operations.get_composite_schedule,
    "request_new_certificate": operations.request_new_certificate,
    "install_root_certificate": operations.install_root_certificate,
    "refresh_installed_certificates": operations.refresh_installed_certificates,
}

# Operations whose offline chargers get the command when they reconnect (resume()): a
# setting is still wanted later, a reset or a remote start is not.
APPLIED_ON_RECONNECT = {"change_configuration"}

# Chargers asked at the same time; each waits on its charger, not on the CPU.
PARALLEL = 32

# Answers that mean "done as asked"; anything else (Rejected, Occupied, …) is a refusal.
POSITIVE_ANSWERS = {"Accepted", "Unlocked", "Scheduled", "RebootRequired"}

Status = CommandBatchItem.Status


def start(
    operation: str,
    title: str,
    charge_points: Iterable[ChargePoint],
    arguments: list[Any],
    issued_by: Any,
) -> CommandBatch:
    """Record the batch; the caller queues it (stations.tasks.run_command_batch) after
    commit, so that the worker finds the rows."""
    if operation not in OPERATIONS:
        raise ValueError(f"Unknown batch operation {operation!r}")
    user = issued_by if getattr(issued_by, "is_authenticated", False) else None
    with transaction.atomic():
        batch = CommandBatch.objects.create(
            operation=operation, title=title, arguments=arguments, issued_by=user
        )
        CommandBatchItem.objects.bulk_create(
            CommandBatchItem(batch=batch, charge_point=charge_point)
            for charge_point in charge_points
        )
    return batch


def run(batch_id: int) -> None:
    """Ask every queued charger of the batch, side by side; idempotent for a retried task
    (only queued items are taken, each claimed by one conditional UPDATE)."""
    batch = CommandBatch.objects.select_related("issued_by").get(pk=batch_id)
    items = list(batch.items.filter(status=Status.QUEUED).select_related("charge_point"))
    in_parallel(lambda item: _run_item(batch, item), items)
    CommandBatch.objects.filter(pk=batch.pk).update(finished_at=timezone.now())


def in_parallel[T](function: Callable[[T], None], items: list[T]) -> None:
    """Run `function` on every item at once (up to PARALLEL threads), each a charger's rule.

    Each thread sends its commands with commands.send_sync, which any number of threads
    may call at once. `function` closes its thread's database connection.
    """
    if not items:
        return
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(items))) as pool:
        for _ in pool.map(function, items):
            pass  # an exception of one item is raised here, after all have run


def resume(charge_point_id: str) -> int:
    """Send a charger that came back what it missed of the batches in APPLIED_ON_RECONNECT
    while offline (within OCPP_BATCH_RECONNECT_DAYS), oldest first, so the newest value
    of a key is the one it keeps; each item claimed by one conditional UPDATE, as run()
    claims them. Returns how many were sent."""
    since = timezone.now() - timedelta(days=settings.OCPP_BATCH_RECONNECT_DAYS)
    items = list(
        CommandBatchItem.objects.filter(
            charge_point__charge_point_id=charge_point_id,
            status=Status.OFFLINE,
            batch__operation__in=APPLIED_ON_RECONNECT,
            batch__created_at__gte=since,
        )
        .select_related("batch__issued_by", "charge_point")
        .order_by("batch__created_at", "pk")
    )
    for item in items:
        _run_item(item.batch, item, waiting=Status.OFFLINE)
    return len(items)


def waits_for(charge_point: ChargePoint) -> bool:
    """Whether a batch waits for this charger to come back (resume() has work).

    Asked at every connect and boot: most chargers have no item offline at all, which is
    asked without the join to the batches, its SQL built once per process.
    """
    if not OFFLINE_ITEM.exists(charge_point=charge_point):
        return False
    offline = CommandBatchItem.objects.filter(charge_point=charge_point, status=Status.OFFLINE)
    since = timezone.now() - timedelta(days=settings.OCPP_BATCH_RECONNECT_DAYS)
    return offline.filter(
        batch__operation__in=APPLIED_ON_RECONNECT, batch__created_at__gte=since
    ).exists()


# waits_for's first question: an item of the charger offline.
OFFLINE_ITEM = CompiledQuery(
    lambda charge_point: CommandBatchItem.objects.filter(
        charge_point=charge_point, status=Status.OFFLINE
    )
)


def _run_item(batch: CommandBatch, item: CommandBatchItem, waiting: str = Status.QUEUED) -> None:
    try:
        claimed = CommandBatchItem.objects.filter(pk=item.pk, status=waiting).update(
            status=Status.SENT
        )
        if claimed:
            status, message = _ask(batch, item.charge_point.charge_point_id)
            CommandBatchItem.objects.filter(pk=item.pk).update(
                status=status, message=message[:500], updated_at=timezone.now()
            )
    finally:
        connections.close_all()  # this thread's connection: the pool's threads end with the batch


def _ask(batch: CommandBatch, charge_point_id: str) -> tuple[str, str]:
    operation = OPERATIONS[batch.operation]
    try:
        answer = operation(
            charge_point_id, *batch.arguments, issued_by=batch.issued_by, source="admin"
        )
    except commands.ChargerOffline as error:
        message = operations.command_failure(error).message
        if batch.operation in APPLIED_ON_RECONNECT:
            message = " ".join((message, _("It is sent when the charger reconnects.")))
        return Status.OFFLINE, message
    except commands.CommandTimeout as error:
        return Status.TIMEOUT, operations.command_failure(error).message
    except commands.CommandError as error:
        return Status.FAILED, operations.command_failure(error).message
    except Exception:  # a bug for one charger must not leave the others "sent" forever
        logger.exception("Batch %s: %s failed", batch.pk, charge_point_id)
        return Status.FAILED, _("The command could not be sent.")
    status = getattr(answer, "status", None)
    if status is None:
        return Status.DONE, describe(answer)
    return (Status.DONE if status in POSITIVE_ANSWERS else Status.REFUSED), str(status)


def describe(answer: Any) -> str:
    """A charger's answer in a few words: its status, or what it brought back."""
    status = getattr(answer, "status", None)
    schedule = getattr(answer, "charging_schedule", None)
    if status == "Accepted" and schedule:
        periods = schedule.get("charging_schedule_period") or []
        return _("Accepted: %(limits)s") % {
            "limits": ", ".join(
                _("%(limit)s A from %(start)s s")
                % {"limit": p["limit"], "start": p["start_period"]}
                for p in periods
            )
        }
    if status is not None:
        return str(status)
    keys = getattr(answer, "configuration_key", None)
    if keys is not None:
        return _("%(count)d configuration keys read") % {"count": len(keys)}
    return _("Done")


def progress(batch: CommandBatch) -> dict[str, Any]:
    """What the progress page shows, as JSON: counts per status and each charger's row."""
    items = list(batch.items.select_related("charge_point"))
    counts = {status.value: 0 for status in Status}
    for item in items:
        counts[item.status] += 1
    return {
        "title": batch.title,
        "finished": batch.finished_at is not None
        or all(item.status in CommandBatchItem.FINISHED for item in items),
        "counts": [
            {"status": status.value, "label": str(status.label), "count": counts[status]}
            for status in Status
        ],
        "items": [
            {
                "charge_point": item.charge_point.charge_point_id,
                "status": item.status,
                "status_label": str(Status(item.status).label),
                "message": item.message,
            }
            for item in items
        ],
    }
