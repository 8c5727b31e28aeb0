"""Configuration across the fleet: read after boot and periodically, compared with a
baseline per charger model.

Reading and changing one charger is stations' rule (`stations/operations.py`
`refresh_configuration`, `change_configuration`); a change to many chargers is a command
batch (`stations/batches.py`), which applies it to an offline charger when it reconnects.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from fleet.models import ConfigurationBaseline
from stations import operations
from stations.models import ChargePoint
from stations.ocpp import commands

SOURCE = "configuration read"


def read(charge_point_id: str) -> bool:
    """Read every key of one charger into ChargePoint.configuration; False when it could
    not be asked (offline, no answer): the next periodic read tries again."""
    try:
        operations.refresh_configuration(charge_point_id, source=SOURCE)
    except commands.CommandError:
        return False
    ChargePoint.objects.filter(charge_point_id=charge_point_id).update(
        configuration_read_at=timezone.now()
    )
    return True


def due_for_reading(now: Any = None) -> QuerySet[ChargePoint]:
    """Connected chargers whose configuration was never read, not read within
    FLEET_CONFIGURATION_READ_HOURS, or (FLEET_READ_CONFIGURATION_AT_BOOT) not read since
    they last booted; those that booted longest ago first.

    A boot is not followed by its own read: the beat task reads the booted chargers at
    most FLEET_CONFIGURATION_READS_PER_RUN at a time, so that 5,000 chargers booting at
    once after a power cut are read over minutes, not all in the storm.
    """
    now = now or timezone.now()
    since = now - timedelta(hours=settings.FLEET_CONFIGURATION_READ_HOURS)
    stale = Q(configuration_read_at__isnull=True) | Q(configuration_read_at__lt=since)
    if settings.FLEET_READ_CONFIGURATION_AT_BOOT:
        stale |= Q(configuration_read_at__lt=F("last_boot_at"))
    return ChargePoint.objects.filter(
        stale,
        is_connected=True,
        registration_status=ChargePoint.Registration.ACCEPTED,
    ).order_by(F("last_boot_at").asc(nulls_first=True), "pk")


def claim_due(limit: int, now: Any = None) -> list[str]:
    """Up to `limit` due chargers (due_for_reading, in its order) for this run to read,
    each claimed for FLEET_CONFIGURATION_RETRY_MINUTES since its last boot.

    A charger that does not answer GetConfiguration (a CALLERROR, an invalid answer, a
    row that still says connected) stays due; unclaimed, it would be asked again at every
    run ahead of every charger booted after it. A claim (on the cache, shared by every
    worker) also keeps two runs that overlap from asking the same charger; a new boot is
    a new claim.
    """
    claimed: list[str] = []
    seconds = settings.FLEET_CONFIGURATION_RETRY_MINUTES * 60
    due = due_for_reading(now).values_list("charge_point_id", "last_boot_at")
    for charge_point_id, booted_at in due.iterator(chunk_size=1000):
        boot = booted_at.isoformat() if booted_at else "never"
        if cache.add(f"fleet:configuration-read:{charge_point_id}:{boot}", True, seconds):
            claimed.append(charge_point_id)
            if len(claimed) >= limit:
                break
    return claimed


@dataclass(frozen=True)
class Cell:
    value: str | None  # None: the charger did not report the key
    differs: bool


@dataclass(frozen=True)
class Row:
    charge_point: ChargePoint
    cells: list[Cell]


@dataclass(frozen=True)
class Table:
    charger_model: str
    keys: list[str]
    baseline: dict[str, str]
    rows: list[Row]


def table(charger_model: str, site_id: int | None = None) -> Table:
    """Every charger of a model against its baseline: one column per key any of them
    reported (or the baseline names), a cell marked where it differs from the baseline."""
    chargers = ChargePoint.objects.filter(model=charger_model).order_by("charge_point_id")
    if site_id:
        chargers = chargers.filter(site_id=site_id)
    baseline = dict(
        ConfigurationBaseline.objects.filter(charger_model=charger_model).values_list(
            "key", "value"
        )
    )
    chargers = list(chargers)
    keys = sorted({*baseline, *(key for cp in chargers for key in cp.configuration)})
    rows = []
    for charge_point in chargers:
        cells = []
        for key in keys:
            entry = charge_point.configuration.get(key)
            value = None if entry is None else (entry.get("value") or "")
            differs = key in baseline and value != baseline[key]
            cells.append(Cell(value, differs))
        rows.append(Row(charge_point, cells))
    return Table(charger_model, keys, baseline, rows)


def charger_models() -> list[str]:
    """The models of the fleet's chargers, for the table's choice."""
    return sorted(
        set(ChargePoint.objects.exclude(model="").values_list("model", flat=True).distinct())
    )
