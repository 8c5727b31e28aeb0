"""meter_samples.store writes the rows the ORM writes, whatever the samples hold and
however many (a multi-row INSERT, from ARRAYS_FROM on PostgreSQL one INSERT from arrays
whose SQL does not depend on the number of samples)."""

import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone as django_timezone

from stations import meter_samples
from stations.models import ChargePoint, ChargingSession, Connector, MeterSample
from stations.partitions import Month
from tests.stations.test_ocpp_meter_values import (
    CONTEXTS,
    LOCATIONS,
    MEASURANDS,
    PHASES,
    UNITS,
)

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the arrays' INSERT is PostgreSQL's"
)

# Every column but the primary key and the charge point (the two copies differ there).
COLUMNS = [
    field.attname
    for field in MeterSample._meta.concrete_fields
    if not field.primary_key and field.name != "charge_point"
]

NOW = django_timezone.now().replace(microsecond=123456)

# Offsets a charger may send (RFC 3339), and UTC; all stored as the same instants.
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]

# Values that a text array would mistake if quoted carelessly: its NULL, its delimiters
# and quotes, a backslash, an empty string, spaces, and text beyond ASCII.
AWKWARD_VALUES = [
    "NULL",
    "null",
    "",
    " 12.5 ",
    '{"signed": "a,b}{"}',
    'quote " and \\ backslash',
    "Ünïcødé ⚡ 1.5",
    "-0",
    "1e3",
]

DECIMALS = [None, Decimal("0.000000"), Decimal("-0.000000"), Decimal("-12345.678901")]
if connection.vendor == "postgresql":  # SQLite keeps a decimal as a float: 15 digits
    DECIMALS += [Decimal("-99999999999999.999999"), Decimal("99999999999999.999999")]


def every_kind(count: int) -> list[dict]:
    """`count` samples' fields going round every enum value, offset, value and number."""
    kinds = itertools.cycle(
        [{"measurand": m} for m in MEASURANDS]
        + [{"phase": p} for p in PHASES]
        + [{"context": c} for c in CONTEXTS]
        + [{"location": loc} for loc in LOCATIONS]
        + [{"unit": u} for u in UNITS]
        + [{"format": "SignedData"}]
    )
    values = itertools.cycle(AWKWARD_VALUES)
    numbers = itertools.cycle(DECIMALS)
    offsets = itertools.cycle(OFFSETS)
    suspect = itertools.cycle([False, True])
    return [
        {
            **next(kinds),
            "connector_id": number % 3,
            "timestamp": (NOW - timedelta(seconds=number)).astimezone(next(offsets)),
            "value": next(values),
            "value_decimal": next(numbers),
            "clock_suspect": next(suspect),
            "received_at": NOW.astimezone(next(offsets)),
        }
        for number in range(count)
    ]


def two_chargers() -> tuple[ChargePoint, ChargePoint, ChargingSession]:
    stored = ChargePoint.objects.create(charge_point_id="CP-STORE")
    by_orm = ChargePoint.objects.create(charge_point_id="CP-ORM")
    connector = Connector.objects.create(charge_point=stored, connector_id=1)
    session = ChargingSession.objects.create(
        charge_point=stored, connector=connector, id_tag="TAG", started_at=NOW, meter_start_wh=0
    )
    return stored, by_orm, session


def rows(charge_point: ChargePoint) -> list[tuple]:
    """Its samples' columns as stored, in the order they were inserted."""
    return list(
        MeterSample.objects.filter(charge_point=charge_point).order_by("id").values_list(*COLUMNS)
    )


# 600: the arrays on PostgreSQL (ARRAYS_FROM), two statements on SQLite (ROWS_PER_STATEMENT).
@pytest.mark.parametrize("count", [1, 3, 40, 600])
def test_stored_samples_are_the_rows_the_orm_writes(count):
    stored, by_orm, session = two_chargers()
    kinds = every_kind(count)

    meter_samples.store(
        [MeterSample(charge_point=stored, session=session, **kind) for kind in kinds]
    )
    for kind in kinds:
        MeterSample(charge_point=by_orm, session=session, **kind).save(force_insert=True)

    assert rows(stored) == rows(by_orm)
    assert len(rows(stored)) == count


def test_samples_without_a_session_and_with_one_in_the_same_call_are_the_orms_rows():
    stored, by_orm, session = two_chargers()
    kinds = every_kind(4)
    sessions = [None, session, None, session]

    meter_samples.store(
        [
            MeterSample(charge_point=stored, session=s, **kind)
            for s, kind in zip(sessions, kinds, strict=True)
        ]
    )
    for s, kind in zip(sessions, kinds, strict=True):
        MeterSample(charge_point=by_orm, session=s, **kind).save(force_insert=True)

    assert rows(stored) == rows(by_orm)


def test_samples_already_stored_and_repeated_in_the_call_are_stored_once():
    stored, _, _ = two_chargers()
    kinds = every_kind(6)
    meter_samples.store([MeterSample(charge_point=stored, **kind) for kind in kinds[:3]])

    again = [MeterSample(charge_point=stored, **kind) for kind in kinds + kinds[4:]]
    meter_samples.store(again)

    assert len(rows(stored)) == 6
    assert meter_samples.store([]) is None  # nothing to write: no statement, no error


@postgresql_only
def test_a_large_batch_of_any_count_is_stored_by_one_and_the_same_statement():
    stored, _, _ = two_chargers()
    statements = []

    def sent(execute, sql, params, many, context):
        statements.append(sql)  # the SQL as psycopg gets it, before any parameter is bound
        return execute(sql, params, many, context)

    counts = [meter_samples.ARRAYS_FROM, meter_samples.ARRAYS_FROM + 1, 2000]
    for start, count in zip(itertools.accumulate([0, *counts]), counts, strict=False):
        kinds = every_kind(start + count)[start:]
        with connection.execute_wrapper(sent):
            meter_samples.store([MeterSample(charge_point=stored, **kind) for kind in kinds])

    assert len(statements) == len(counts)  # one round trip each: no transaction, no COPY
    assert len(set(statements)) == 1
    assert len(rows(stored)) == sum(counts)


@postgresql_only
def test_samples_land_in_their_months_partition_or_the_default():
    stored, _, _ = two_chargers()
    this_month = Month.of(NOW)
    long_ago = datetime(2019, 5, 17, 12, tzinfo=UTC)  # no partition: the default's
    kinds = [{"connector_id": 1, "timestamp": at, "value": "1000"} for at in (NOW, long_ago)]

    meter_samples.store([MeterSample(charge_point=stored, **kind) for kind in kinds])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM stations_metersample "
            "WHERE charge_point_id = %s ORDER BY timestamp DESC",
            [stored.pk],
        )
        partitions = [row[0] for row in cursor.fetchall()]
    assert partitions == [this_month.name("stations_metersample"), "stations_metersample_default"]
