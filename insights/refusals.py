"""Drivers turned away at a charger (insights.models.RefusedStart): an Authorize or a
StartTransaction answered with an idTagInfo status other than Accepted.

Recorded from stations' `authorization_refused` signal as it happens. The message log
(stations.OcppMessage) keeps every frame for OCPP_MESSAGE_LOG_DAYS days, so
`rebuild_from_log()` (run by `manage.py rebuild_insights`) recomputes the refusals of the
days it still holds from the frames; older refusals stay as the signal recorded them
(the signal is their only source).

The dashboards (insights/figures.py) and site planning (insights/planning_data.py) read
them through `refused_starts()` and `counts_by_site()`.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, QuerySet

from insights.models import RefusedStart
from stations.clock import trusted_time
from stations.models import ChargePoint, OcppMessage
from stations.ocpp.rpc import parse_datetime

ACTIONS = ("Authorize", "StartTransaction")


def record(
    charge_point: ChargePoint, connector_id: int, action: str, status: str, at: datetime
) -> RefusedStart | None:
    """Keep one refusal; a charger on no site has nothing to count it under."""
    if charge_point.site_id is None:
        return None
    return RefusedStart.objects.create(
        site_id=charge_point.site_id,
        charge_point=charge_point,
        connector_id=connector_id,
        action=action,
        status=status,
        at=at,
    )


def refused_starts(
    start: datetime, end: datetime, site_ids: Iterable[int] | None = None
) -> QuerySet[RefusedStart]:
    """Starts refused in [start, end) at the chargers of `site_ids` (of every site if
    None), of any connector type: an Authorize names no connector."""
    refused = RefusedStart.objects.filter(at__gte=start, at__lt=end)
    return refused if site_ids is None else refused.filter(site_id__in=list(site_ids))


def counts_by_site(
    start: datetime, end: datetime, site_ids: Iterable[int] | None = None
) -> dict[int, dict[str, int]]:
    """How many starts were refused in [start, end) at each site, per action (Authorize,
    StartTransaction; an action without refusals is 0); sites without refusals left out."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ACTIONS, 0))
    for site_id, action, n in (
        refused_starts(start, end, site_ids)
        .values("site_id", "action")
        .annotate(n=Count("pk"))
        .values_list("site_id", "action", "n")
    ):
        counts[site_id][action] = n
    return dict(counts)


def _payload(frame: str, index: int) -> dict[str, Any]:
    try:
        payload = json.loads(frame)[index]
    except (ValueError, IndexError, TypeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def rebuild_from_log() -> int:
    """Recompute the refusals since the oldest frame in the message log; returns how many.

    An answer (CALLRESULT, logged with its action) is matched to its request by charger
    and message id; a StartTransaction resent with the same transactionId counts once,
    at the time the handler used (stations.clock.trusted_time of its timestamp).
    """
    oldest = OcppMessage.objects.order_by("created_at").values_list("created_at", flat=True)
    since = oldest.first()
    if since is None:
        return 0
    chargers = {
        cp_id: (pk, site_id)
        for pk, cp_id, site_id in ChargePoint.objects.filter(site__isnull=False).values_list(
            "pk", "charge_point_id", "site_id"
        )
    }
    frames = OcppMessage.objects.filter(
        created_at__gte=since, action__in=ACTIONS, charge_point_id__in=list(chargers)
    )
    requests: dict[tuple[str, str], tuple[str, datetime]] = {}
    for cp_id, uid, frame, at in frames.filter(
        direction=OcppMessage.Direction.IN, message_type=OcppMessage.MessageType.CALL
    ).values_list("charge_point_id", "unique_id", "frame", "created_at"):
        requests[(cp_id, uid)] = (frame, at)
    refusals: dict[Any, RefusedStart] = {}
    for cp_id, uid, action, frame in (
        frames.filter(
            direction=OcppMessage.Direction.OUT, message_type=OcppMessage.MessageType.CALLRESULT
        )
        .order_by("created_at", "id")
        .values_list("charge_point_id", "unique_id", "action", "frame")
    ):
        answer = _payload(frame, 2)
        status = (answer.get("idTagInfo") or {}).get("status")
        if status in (None, "Accepted") or (cp_id, uid) not in requests:
            continue
        request_frame, received_at = requests[(cp_id, uid)]
        request = _payload(request_frame, 3)
        pk, site_id = chargers[cp_id]
        at, connector_id, key = received_at, 0, (cp_id, uid)
        if action == "StartTransaction":
            try:
                at = trusted_time(parse_datetime(request["timestamp"]), received_at)[0]
                connector_id = int(request["connectorId"])
            except (KeyError, TypeError, ValueError):
                continue
            key = (cp_id, "transaction", answer.get("transactionId"))
        refusals.setdefault(
            key,
            RefusedStart(
                site_id=site_id,
                charge_point_id=pk,
                connector_id=connector_id,
                action=action,
                status=status,
                at=at,
            ),
        )
    rows = [row for row in refusals.values() if row.at >= since]
    with transaction.atomic():
        RefusedStart.objects.filter(at__gte=since).delete()
        RefusedStart.objects.bulk_create(rows, batch_size=5000)
    return len(rows)
