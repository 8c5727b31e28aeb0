"""The summary tables (insights.models ConnectorHour, SiteDay, DriverMonth, SessionMix),
rolled up from the raw rows incrementally: each run reads only the session charges written since the
last (RollupMark), so a beat task every few minutes costs what is new, not the history.
`rebuild()` (manage.py rebuild_insights) empties them and reads everything again: the
same figures, by the same code.

A session counts once it is priced (billing's SessionCharge, one per session): its
occupied time is started..stopped, its charging time billing's `charging_minutes` from
the start (until the car was full), its energy and money are billing's; the rest is idle.
Sessions and energy count in the hour and day they began. A session's money counts under
one customer (`customer_of`), by who the driver is when it is rolled up (a rebuild uses
today's plan and staff memberships; the fleet that paid is the charge's own). A driver's
month is on a plan (DriverMonth.on_plan) if they are in one, even when their money counts
under staff.

A booking's no-show fee (a SessionCharge owned by the booking) counts in SiteDay's money
only, as `fees`, `fee_net` and `fee_gross` besides the sessions' `net` and `gross`:
under the booked connector's site and type, the slot's first day, its method and its
driver's customer (`customer_of`); it is no session, no energy, no time.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Model, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import CustomerGroup, SessionCharge
from insights.models import (
    ConnectorHour,
    CustomerKind,
    DriverMonth,
    RollupMark,
    SessionMix,
    SiteDay,
)
from stations.models import Connector

MARK = "session_charges"
BATCH = 5000
HOUR = timedelta(hours=1)
# The histograms' buckets (SessionMix): a session counts under the highest edge it reaches.
LENGTH_EDGES_MINUTES = (0, 15, 30, 60, 120, 240, 480, 720)
ENERGY_EDGES_KWH = (0, 5, 10, 20, 30, 40, 60, 80)
DC_TYPES = {Connector.Type.CCS1, Connector.Type.CCS2, Connector.Type.CHADEMO}
AC_TYPES = {Connector.Type.TYPE1, Connector.Type.TYPE2, Connector.Type.SCHUKO}


@dataclass
class _Charge:
    """The fields of a priced session the summaries need (one query per batch)."""

    id: int
    connector_id: int
    connector_type: str
    rated_kw: Decimal
    site_id: int
    zone: ZoneInfo
    started_at: datetime
    stopped_at: datetime
    energy_wh: int
    charging_minutes: Decimal
    idle_minutes: Decimal
    net: Decimal
    gross: Decimal
    method: str
    fleet: str
    user_id: int | None
    joined: datetime | None
    is_fee: bool = False  # a booking's no-show fee, not a session's charge


def roll_up(limit: int | None = None) -> int:
    """Add the charges written since the last run to the summaries; returns how many.
    `limit` stops after about that many (the tests roll up in parts)."""
    done = 0
    while limit is None or done < limit:
        count = _roll_up_batch(BATCH if limit is None else min(BATCH, limit - done))
        done += count
        if count == 0:
            break
    return done


def rebuild() -> int:
    """Recompute every summary from the raw rows: what `manage.py rebuild_insights` runs."""
    with transaction.atomic():
        mark = _mark()
        ConnectorHour.objects.all().delete()
        SiteDay.objects.all().delete()
        SessionMix.objects.all().delete()
        DriverMonth.objects.all().delete()
        mark.last_id = 0
        mark.save(update_fields=["last_id"])
    count = roll_up()
    _analyze(ConnectorHour, SiteDay, SessionMix, DriverMonth)
    return count


def _analyze(*models: type[Model]) -> None:
    """Give PostgreSQL's planner the new sizes of tables just refilled: until autovacuum
    gets there it estimates from the emptied tables and reads them through an index."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')


def _mark() -> RollupMark:
    RollupMark.objects.get_or_create(name=MARK)
    # One roll-up at a time: a second waits here, then reads from where the first ended.
    return RollupMark.objects.select_for_update().get(name=MARK)


def _roll_up_batch(size: int) -> int:
    with transaction.atomic():
        mark = _mark()
        charges = _charges(mark.last_id, size)
        if not charges:
            return 0
        drivers = {c.user_id for c in charges if c.user_id}
        groups = _groups_of(drivers)
        plan_members = _plan_members(drivers)
        _add(ConnectorHour, ("connector_id", "hour"), _connector_hours(charges))
        _add(
            SiteDay,
            ("site_id", "day", "connector_type", "method", "customer_kind", "customer_group"),
            _site_days(charges, groups),
        )
        _add(DriverMonth, ("user_id", "month"), _driver_months(charges, plan_members))
        _add(
            SessionMix,
            ("site_id", "day", "connector_type", "power_class", "length_minutes", "energy_kwh"),
            _session_mixes(charges),
        )
        mark.last_id = charges[-1].id
        mark.rolled_up_at = timezone.now()
        mark.save(update_fields=["last_id", "rolled_up_at"])
        return len(charges)


# A charge's fields through its session, or through its booking for a no-show fee.
_OWNER_FIELDS = {
    "connector_id": ("session__connector_id", "booking__connector_id"),
    "connector_type": (
        "session__connector__connector_type",
        "booking__connector__connector_type",
    ),
    "rated_kw": ("session__connector__max_power_kw", "booking__connector__max_power_kw"),
    "site_id": ("session__charge_point__site_id", "booking__connector__charge_point__site_id"),
    "time_zone": (
        "session__charge_point__site__time_zone",
        "booking__connector__charge_point__site__time_zone",
    ),
    "started_at": ("session__started_at", "booking__starts_at"),
    "stopped_at": ("session__stopped_at", "booking__ends_at"),
    "user_id": ("session__id_token__owner_id", "booking__user_id"),
    "joined": ("session__id_token__owner__date_joined", "booking__user__date_joined"),
}


def _charges(after_id: int, size: int) -> list[_Charge]:
    rows = (
        SessionCharge.objects.filter(
            Q(session__stopped_at__isnull=False) | Q(booking__isnull=False), id__gt=after_id
        )
        .order_by("id")
        .annotate(
            **{
                f"owner_{name}": Coalesce(F(session), F(booking))
                for name, (session, booking) in _OWNER_FIELDS.items()
            }
        )
        .values(
            "id",
            *(f"owner_{name}" for name in _OWNER_FIELDS),
            "booking_id",
            "session__energy_wh",
            "charging_minutes",
            "idle_minutes",
            "net",
            "gross",
            "method",
            "account__fleet__name",
        )[:size]
    )
    zones: dict[str, ZoneInfo] = {}
    charges = []
    for row in rows:
        if row["owner_site_id"] is None:
            continue  # a charger on no site: nothing to summarise it under
        zone_name = row["owner_time_zone"] or settings.TIME_ZONE
        zone = zones.setdefault(zone_name, ZoneInfo(zone_name))
        is_fee = row["booking_id"] is not None
        charges.append(
            _Charge(
                id=row["id"],
                connector_id=row["owner_connector_id"],
                connector_type=row["owner_connector_type"],
                rated_kw=row["owner_rated_kw"],
                site_id=row["owner_site_id"],
                zone=zone,
                started_at=row["owner_started_at"],
                stopped_at=row["owner_stopped_at"],
                energy_wh=0 if is_fee else row["session__energy_wh"] or 0,
                charging_minutes=row["charging_minutes"],
                idle_minutes=row["idle_minutes"],
                net=row["net"],
                gross=row["gross"],
                method=row["method"],
                fleet=row["account__fleet__name"] or "",
                user_id=row["owner_user_id"],
                joined=row["owner_joined"],
                is_fee=is_fee,
            )
        )
    if not charges and rows:
        # Only charges of chargers on no site: step past them all the same.
        return [_skip(rows[-1]["id"])]
    return charges


def _skip(charge_id: int) -> _Charge:
    zone = ZoneInfo(settings.TIME_ZONE)
    moment = timezone.now()
    return _Charge(charge_id, 0, "", Decimal(0), 0, zone, moment, moment, 0, Decimal(0), Decimal(0),
                   Decimal(0), Decimal(0), "", "", None, None)  # fmt: skip


# Of a driver's groups, the one their money counts under: staff (who charge on the
# operator's terms) before a subscription plan.
GROUP_ORDER = {CustomerGroup.Kind.STAFF: 0, CustomerGroup.Kind.PLAN: 1}


def _groups_of(user_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Each driver's staff or plan group, (kind, name), by GROUP_ORDER then name."""
    memberships = (
        CustomerGroup.objects.filter(kind__in=list(GROUP_ORDER), members__in=user_ids)
        .values_list("members", "kind", "name")
        .order_by("name")
    )
    groups: dict[int, tuple[str, str]] = {}
    for user_id, kind, name in sorted(memberships, key=lambda row: GROUP_ORDER[row[1]]):
        groups.setdefault(user_id, (kind, name))
    return groups


def _plan_members(user_ids: set[int]) -> set[int]:
    """The drivers in a subscription plan, staff or not (DriverMonth.on_plan): GROUP_ORDER
    decides only whom the money counts under (`customer_of`)."""
    return set(
        CustomerGroup.objects.filter(
            kind=CustomerGroup.Kind.PLAN, members__in=user_ids
        ).values_list("members", flat=True)
    )


def customer_of(charge: _Charge, groups: dict[int, tuple[str, str]]) -> tuple[str, str]:
    """Whom a session's (or a no-show fee's) money counts under, (CustomerKind, group
    name): the fleet whose account paid; a guest paying at the charger; the driver's
    staff or plan group; a driver in no group (pay as you go); else an id tag without an
    account."""
    if charge.fleet:
        return CustomerKind.FLEET, charge.fleet
    if charge.method == SessionCharge.Method.GUEST:
        return CustomerKind.GUEST, ""
    if charge.user_id is None:
        return CustomerKind.NO_ACCOUNT, ""
    return groups.get(charge.user_id, (CustomerKind.DRIVER, ""))


def hour_of_week(moment: datetime, zone: ZoneInfo) -> int:
    """0 for Monday 00:00-01:00 local time, 167 for Sunday 23:00-24:00."""
    local = moment.astimezone(zone)
    return (local.isoweekday() - 1) * 24 + local.hour


def _seconds_in(start: datetime, end: datetime, hour: datetime) -> int:
    return max(0, round((min(end, hour + HOUR) - max(start, hour)).total_seconds()))


def _connector_hours(charges: Iterable[_Charge]) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for charge in charges:
        if not charge.connector_id or charge.is_fee:
            continue
        charging_end = min(
            charge.stopped_at, charge.started_at + timedelta(minutes=float(charge.charging_minutes))
        )
        hour = charge.started_at.replace(minute=0, second=0, microsecond=0)
        first = True
        while hour < charge.stopped_at:
            row = rows.setdefault(
                (charge.connector_id, hour),
                {
                    "site_id": charge.site_id,
                    "hour_of_week": hour_of_week(hour, charge.zone),
                    "occupied_seconds": 0,
                    "charging_seconds": 0,
                    "sessions": 0,
                    "energy_wh": 0,
                },
            )
            row["occupied_seconds"] += _seconds_in(charge.started_at, charge.stopped_at, hour)
            row["charging_seconds"] += _seconds_in(charge.started_at, charging_end, hour)
            if first:
                row["sessions"] += 1
                row["energy_wh"] += charge.energy_wh
                first = False
            hour += HOUR
    return rows


def _site_days(
    charges: Iterable[_Charge], groups: dict[int, tuple[str, str]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for charge in charges:
        if not charge.connector_id:
            continue
        day = charge.started_at.astimezone(charge.zone).date()
        kind, group = customer_of(charge, groups)
        key = (charge.site_id, day, charge.connector_type, charge.method, kind, group)
        row = rows.setdefault(key, defaultdict(lambda: Decimal(0)))
        row["net"] += charge.net
        row["gross"] += charge.gross
        if charge.is_fee:  # money only: no session, energy or time
            row["fees"] += 1
            row["fee_net"] += charge.net
            row["fee_gross"] += charge.gross
            continue
        row["sessions"] += 1
        row["energy_wh"] += charge.energy_wh
        # Each session's minutes rounded alone: sums then agree however runs split them.
        duration = Decimal((charge.stopped_at - charge.started_at).total_seconds()) / 60
        row["duration_minutes"] += duration.quantize(Decimal("0.001"))
        row["charging_minutes"] += charge.charging_minutes
        row["idle_minutes"] += charge.idle_minutes
    for row in rows.values():
        for name in ("sessions", "energy_wh", "fees"):
            row[name] = int(row[name])
    return rows


def bucket(value: float, edges: tuple[int, ...]) -> int:
    """The highest edge `value` reaches (edges ascending from 0)."""
    return max((edge for edge in edges if value >= edge), default=edges[0])


def power_class(connector_type: str, rated_kw: Decimal) -> str:
    """The connector's class by its rated power: AC types (Type 1, Type 2, Schuko) up to
    or over 22 kW; DC types (CCS, CHAdeMO) under 100, 100-149 and 150 kW and more. A
    connector of another type is AC up to 22 kW and DC above."""
    dc = connector_type in DC_TYPES or (connector_type not in AC_TYPES and rated_kw > 22)
    if not dc:
        return SessionMix.PowerClass.AC if rated_kw <= 22 else SessionMix.PowerClass.AC_FAST
    if rated_kw < 100:
        return SessionMix.PowerClass.DC
    return SessionMix.PowerClass.DC_FAST if rated_kw < 150 else SessionMix.PowerClass.DC_HIGH


def _session_mixes(charges: Iterable[_Charge]) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for charge in charges:
        if not charge.connector_id or charge.is_fee:
            continue
        minutes = (charge.stopped_at - charge.started_at).total_seconds() / 60
        key = (
            charge.site_id,
            charge.started_at.astimezone(charge.zone).date(),
            charge.connector_type,
            power_class(charge.connector_type, charge.rated_kw),
            bucket(minutes, LENGTH_EDGES_MINUTES),
            bucket(charge.energy_wh / 1000, ENERGY_EDGES_KWH),
        )
        row = rows.setdefault(key, {"sessions": 0, "energy_wh": 0})
        row["sessions"] += 1
        row["energy_wh"] += charge.energy_wh
    return rows


def month_of(moment: datetime) -> date:
    """The first day of the month `moment` falls in, in TIME_ZONE (Europe/Stockholm)."""
    return timezone.localtime(moment).date().replace(day=1)


def _driver_months(
    charges: Iterable[_Charge], plan_members: set[int]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for charge in charges:
        if charge.user_id is None or charge.joined is None or charge.is_fee:
            continue  # guests: no driver to follow; a fee is no session
        row = rows.setdefault(
            (charge.user_id, month_of(charge.started_at)),
            {"cohort": month_of(charge.joined), "sessions": 0, "energy_wh": 0, "gross": Decimal(0),
             "charging_seconds": 0, "rated_wh": 0},
        )  # fmt: skip
        row["method"] = charge.method  # how they paid last that month
        row["on_plan"] = charge.user_id in plan_members
        row["sessions"] += 1
        row["energy_wh"] += charge.energy_wh
        row["gross"] += charge.gross
        seconds = round(float(charge.charging_minutes) * 60)
        row["charging_seconds"] += seconds
        row["rated_wh"] += round(float(charge.rated_kw) * seconds / 3.6)
    return rows


def _add(
    model: type[Model], key_fields: tuple[str, ...], rows: dict[tuple[Any, ...], dict[str, Any]]
) -> None:
    """Add `rows` to the summary: counts and sums onto the existing row, others replace."""
    if not rows:
        return
    first = key_fields[0]
    existing: dict[tuple[Any, ...], Any] = {}
    firsts = {key[0] for key in rows}
    candidates = model._default_manager.filter(**{f"{first}__in": firsts})
    seconds = [key[1] for key in rows]  # hours, days or months: a range, not a list
    candidates = candidates.filter(
        **{f"{key_fields[1]}__gte": min(seconds), f"{key_fields[1]}__lte": max(seconds)}
    )
    for row in candidates:
        existing[tuple(getattr(row, name) for name in key_fields)] = row
    to_create, to_update, fields = [], [], set()
    summed = {"occupied_seconds", "charging_seconds", "sessions", "energy_wh", "net", "gross",
              "duration_minutes", "charging_minutes", "idle_minutes", "rated_wh", "fees",
              "fee_net", "fee_gross"}  # fmt: skip
    for key, values in rows.items():
        row = existing.get(key)
        if row is None:
            to_create.append(model(**dict(zip(key_fields, key, strict=True)), **values))
            continue
        for name, value in values.items():
            setattr(row, name, getattr(row, name) + value if name in summed else value)
            fields.add(name)
        to_update.append(row)
    model._default_manager.bulk_create(to_create, batch_size=BATCH)
    if to_update:
        model._default_manager.bulk_update(to_update, sorted(fields), batch_size=BATCH)
