"""Rules for chargers and sessions that went quiet without saying goodbye.

A charger that loses power or network, or a server process that dies, leaves rows
saying "connected" and "charging" that nothing will ever correct from the socket side.
These rules run periodically (stations/tasks.py, scheduled in chargehub/celery.py) and
use server times only: a charger's clock decides nothing here.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from stations.models import (
    ChargePoint,
    ChargingSession,
    ConnectionEvent,
    MeterSample,
    StatusEvent,
)
from stations.ocpp.connections import record_connection
from stations.sessions import close_session_by_rule

logger = logging.getLogger(__name__)


def mark_silent_chargers_offline(now: datetime | None = None) -> int:
    """Mark chargers connected but silent for too long as disconnected; return how many.

    A charger counts as silent when nothing was heard from it for its heartbeat interval
    times OCPP_OFFLINE_AFTER_HEARTBEATS: the same window ChargePoint.is_online applies at
    read time. The process holding a socket marks its charger gone when the socket
    closes; this catches the chargers of a process that died before it could.

    connection_id is kept: should the socket in fact still be open, the next frame from
    the charger marks it connected again (connections.mark_seen).
    """
    now = now or timezone.now()
    factor = settings.OCPP_OFFLINE_AFTER_HEARTBEATS
    connected = ChargePoint.objects.filter(is_connected=True)
    marked = 0
    # The window depends on each charger's own interval; there are only a few distinct
    # intervals, and one UPDATE per interval keeps the check-and-mark atomic.
    intervals = connected.values_list("heartbeat_interval", flat=True).distinct()
    for interval in list(intervals):
        cutoff = now - timedelta(seconds=interval * factor)
        silent = connected.filter(heartbeat_interval=interval, last_seen_at__lt=cutoff)
        ids = list(silent.values_list("charge_point_id", flat=True))
        if ids:
            marked += _mark_offline(silent, now)
            logger.info("Marked offline, silent for over %g s: %s", interval * factor, ids)
    # Connected without ever being seen cannot come from the consumer (mark_connected
    # sets both); treat such a row as silent.
    marked += _mark_offline(connected.filter(last_seen_at__isnull=True), now)
    return marked


def _mark_offline(chargers: QuerySet[ChargePoint], now: datetime) -> int:
    marked = 0
    for charge_point in chargers:
        # Row by row, each checked again: one that spoke meanwhile stays connected.
        if chargers.filter(pk=charge_point.pk).update(is_connected=False, disconnected_at=now):
            record_connection(charge_point, ConnectionEvent.Kind.DISCONNECTED, now)
            marked += 1
    return marked


def stale_session_rule() -> str:
    """The text a stale session gets in `closed_by`, naming the window that applied."""
    hours = settings.OCPP_STALE_SESSION_AFTER / 3600
    return f"stale: no word from the charger for {hours:g} h"


def _with_last_word(sessions: QuerySet[ChargingSession]) -> QuerySet[ChargingSession]:
    """Annotate `last_word`: the last time (server time) the charger said anything about
    the session: its StartTransaction, a meter sample of it, a status of its connector."""
    last_sample = (
        MeterSample.objects.filter(session=OuterRef("pk"))
        .order_by("-received_at")
        .values("received_at")[:1]
    )
    last_status = (
        StatusEvent.objects.filter(connector=OuterRef("connector"))
        .order_by("-received_at")
        .values("received_at")[:1]
    )
    return sessions.annotate(
        last_word=Greatest(
            "created_at",
            # Greatest() with a NULL is NULL on SQLite and ignores it on PostgreSQL:
            # Coalesce makes both agree.
            Coalesce(Subquery(last_sample), "created_at"),
            Coalesce(Subquery(last_status), "created_at"),
            output_field=DateTimeField(),
        )
    )


def close_stale_sessions(now: datetime | None = None) -> int:
    """Close active sessions the charger has said nothing about for OCPP_STALE_SESSION_AFTER.

    The session is closed as of its last word, with the last meter reading we have
    (sessions.close_session_by_rule), and `closed_by` names this rule. A charger that comes
    back and sends its StopTransaction (OCPP 1.6 §4.10: it must keep it until delivered)
    replaces these figures with its own.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.OCPP_STALE_SESSION_AFTER)
    rule = stale_session_rule()
    active = ChargingSession.objects.filter(status=ChargingSession.Status.ACTIVE)
    candidates = list(
        _with_last_word(active).filter(last_word__lt=cutoff).values_list("pk", flat=True)
    )
    closed = 0
    for pk in candidates:
        with transaction.atomic():
            # Checked again under the row lock: a StopTransaction or a meter sample may
            # have arrived since the candidates were read.
            session = (
                _with_last_word(active.select_for_update())
                .filter(pk=pk, last_word__lt=cutoff)
                .first()
            )
            if session is None:
                continue
            close_session_by_rule(session, rule, session.last_word)
            closed += 1
    return closed
