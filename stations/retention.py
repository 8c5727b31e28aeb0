"""How long the OCPP message log and refused connections are kept (OCPP_MESSAGE_LOG_DAYS)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from stations.models import OcppMessage, RefusedConnection

logger = logging.getLogger(__name__)

# Rows deleted per statement: a busy server logs millions of frames a day, and one
# DELETE of them all would hold locks (and, on SQLite, the only write lock) for long.
PRUNE_BATCH_SIZE = 5_000


def prune_message_log(now: datetime | None = None, batch_size: int = PRUNE_BATCH_SIZE) -> int:
    """Delete log entries older than OCPP_MESSAGE_LOG_DAYS days; 0 keeps them forever."""
    days = settings.OCPP_MESSAGE_LOG_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = OcppMessage.objects.filter(created_at__lt=cutoff)
    deleted = 0
    while True:
        batch = list(old.order_by().values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        deleted += OcppMessage.objects.filter(pk__in=batch).delete()[0]
    if deleted:
        logger.info("Pruned %d OCPP log entries older than %d days", deleted, days)
    # Few rows (one per id, address and reason): one statement does.
    RefusedConnection.objects.filter(last_at__lt=cutoff).delete()
    return deleted
