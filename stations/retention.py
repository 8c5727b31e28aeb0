"""How long the OCPP message log, refused connections and meter samples are kept.

OCPP_MESSAGE_LOG_DAYS and METER_SAMPLE_RETENTION_DAYS (0 keeps them forever). Where the
tables are partitioned by month (PostgreSQL, stations/partitions.py), a month is dropped
whole once all of it is older than the limit: instant, but a row stays up to a month
longer than the limit. Rows in the default partition, and every row on SQLite, are
deleted in batches.

Meter samples are billing's evidence: samples of a session still open, or of one that
any METER_SAMPLE_HOLDS function holds (billing: not yet priced, or its charge not yet
final), are never deleted; a month holding any of them is not dropped, its other old
rows are deleted in batches.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from stations import partitions
from stations.models import ChargingSession, MeterSample, OcppMessage, RefusedConnection

logger = logging.getLogger(__name__)

# Rows deleted per statement: a busy server logs millions of frames a day, and one
# DELETE of them all would hold locks (and, on SQLite, the only write lock) for long.
PRUNE_BATCH_SIZE = 5_000

Hold = Callable[[QuerySet[ChargingSession]], QuerySet[ChargingSession]]


def prune_message_log(now: datetime | None = None, batch_size: int = PRUNE_BATCH_SIZE) -> int:
    """Delete log entries older than OCPP_MESSAGE_LOG_DAYS days; 0 keeps them forever."""
    days = settings.OCPP_MESSAGE_LOG_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = _prune(
        OcppMessage, OcppMessage.objects.filter(created_at__lt=cutoff), cutoff, batch_size
    )
    if deleted:
        logger.info("Pruned %d OCPP log entries older than %d days", deleted, days)
    # Few rows (one per id, address and reason): one statement does.
    RefusedConnection.objects.filter(last_at__lt=cutoff).delete()
    return deleted


def prune_meter_samples(now: datetime | None = None, batch_size: int = PRUNE_BATCH_SIZE) -> int:
    """Delete samples older than METER_SAMPLE_RETENTION_DAYS days, except held ones."""
    days = settings.METER_SAMPLE_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    held = held_sessions()
    old = MeterSample.objects.filter(timestamp__lt=cutoff).exclude(session__in=held)
    deleted = _prune(MeterSample, old, cutoff, batch_size, held=held)
    if deleted:
        logger.info("Pruned %d meter samples older than %d days", deleted, days)
    return deleted


def held_sessions() -> list[int]:
    """Sessions whose samples must stay: open ones, and those a METER_SAMPLE_HOLDS function
    holds (billing's: priced minutes after they end, the invoiced ones paid within a
    month or so): a small share of all sessions, so a list of their ids will do."""
    sessions = ChargingSession.objects.all()
    held = set(sessions.filter(status=ChargingSession.Status.ACTIVE).values_list("pk", flat=True))
    for path in settings.METER_SAMPLE_HOLDS:
        hold: Hold = import_string(path)
        held.update(hold(sessions).values_list("pk", flat=True))
    return sorted(held)


def _prune(
    model: type[Model],
    old: QuerySet,
    cutoff: datetime,
    batch_size: int,
    held: list[int] | None = None,
) -> int:
    """Drop the months wholly before `cutoff` where partitioned, then delete in batches
    what `old` still finds: rows in the default partition, and the other rows of a
    month kept for its held samples."""
    deleted = 0
    table = model._meta.db_table
    if partitions.enabled():
        months = partitions.months(table)
        for month in months:
            if month.end > cutoff:
                break
            if (
                held
                and MeterSample.objects.filter(
                    session__in=held, timestamp__gte=month.start, timestamp__lt=month.end
                ).exists()
            ):
                logger.warning(
                    "%s kept: it holds samples of sessions not yet billed", month.name(table)
                )
                continue
            deleted += partitions.drop_month(table, month)
        # The month the cutoff falls in waits until it is whole.
        cutoff_month = partitions.Month.of(cutoff)
        if cutoff_month in months:
            column = partitions.PARTITIONED[table]
            old = old.filter(**{f"{column}__lt": cutoff_month.start})
    while True:
        batch = list(old.order_by().values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        deleted += model.objects.filter(pk__in=batch).delete()[0]
    return deleted
