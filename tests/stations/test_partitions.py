"""The message log and meter samples partitioned by month on PostgreSQL
(stations/partitions.py): rows land in their month, months are created ahead, a month
without a partition still takes rows, time queries read only their months, retention
drops whole months. SQLite keeps plain tables (retention there: test_tasks.py and
tests/billing/test_sample_retention.py)."""

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connection
from django.db.migrations.state import ProjectState
from django.utils import timezone
from ocpp.v16 import call

from stations import partitions, retention
from stations.models import ChargePoint, MeterSample, OcppMessage
from stations.partitions import Month
from tests.conftest import eventually

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitioning is PostgreSQL's"
)

LOG = "stations_ocppmessage"
SAMPLES = "stations_metersample"


def partition_of(model, pk: int) -> str:
    """The partition a row is stored in."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {model._meta.db_table} WHERE id = %s", [pk]
        )
        return cursor.fetchone()[0]


def exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        return cursor.fetchone()[0]


def log_entry(at: datetime) -> OcppMessage:
    return OcppMessage.objects.create(
        charge_point_id="CP-PART",
        direction="in",
        message_type=2,
        action="Heartbeat",
        frame='[2,"1","Heartbeat",{}]',
        created_at=at,
    )


def sample(charge_point: ChargePoint, at: datetime) -> MeterSample:
    return MeterSample.objects.create(
        charge_point=charge_point, connector_id=1, timestamp=at, value="1000"
    )


async def test_a_chargers_frames_and_samples_land_in_this_months_partition(charger):
    this_month = Month.of(timezone.now())
    async with charger("CP-PARTITIONED") as cp:
        await cp.boot()
        await cp.call(
            call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": datetime.now(UTC).isoformat(),
                        "sampled_value": [{"value": "1234", "unit": "Wh"}],
                    }
                ],
            )
        )

    def stored_in() -> set[str]:
        frames = OcppMessage.objects.filter(charge_point_id="CP-PARTITIONED")
        samples = MeterSample.objects.filter(charge_point__charge_point_id="CP-PARTITIONED")
        return {partition_of(OcppMessage, pk) for pk in frames.values_list("pk", flat=True)} | {
            partition_of(MeterSample, pk) for pk in samples.values_list("pk", flat=True)
        }

    expected = {this_month.name(LOG), this_month.name(SAMPLES)}
    assert await eventually(lambda: stored_in() == expected, timeout=30)
    assert (
        await sync_to_async(OcppMessage.objects.filter(charge_point_id="CP-PARTITIONED").count)()
        == 4
    )


@pytest.mark.django_db
def test_the_migration_created_this_month_and_three_ahead_and_a_default():
    this_month = Month.of(timezone.now())
    for table in partitions.PARTITIONED:
        assert partitions.months(table)[-4:] == [this_month.add(n) for n in range(4)]
        assert exists(f"{table}_default")


@pytest.mark.django_db
def test_months_are_created_ahead_once():
    later = timezone.now() + timedelta(days=400)
    month = Month.of(later)

    created = partitions.create_ahead(later)

    assert created == [
        month.add(n).name(table) for table in partitions.PARTITIONED for n in range(4)
    ]
    assert partitions.create_ahead(later) == []
    entry = log_entry(later)
    assert partition_of(OcppMessage, entry.pk) == month.name(LOG)


@pytest.mark.django_db
def test_the_command_creates_the_months_it_is_asked_for():
    this_month = Month.of(timezone.now())

    call_command("create_partitions", "--months-ahead", "5")

    for table in partitions.PARTITIONED:
        assert partitions.months(table)[-6:] == [this_month.add(n) for n in range(6)]


@pytest.mark.django_db
def test_a_row_for_a_month_without_partition_goes_to_the_default_and_moves_when_it_comes():
    charge_point = ChargePoint.objects.create(charge_point_id="CP-PART-OLD")
    long_ago = datetime(2019, 5, 17, 12, tzinfo=UTC)
    entry = log_entry(long_ago)
    old_sample = sample(charge_point, long_ago)
    assert partition_of(OcppMessage, entry.pk) == f"{LOG}_default"
    assert partition_of(MeterSample, old_sample.pk) == f"{SAMPLES}_default"

    for table in partitions.PARTITIONED:
        partitions.create_month(table, Month.of(long_ago))

    assert partition_of(OcppMessage, entry.pk) == "stations_ocppmessage_y2019m05"
    assert partition_of(MeterSample, old_sample.pk) == "stations_metersample_y2019m05"
    # The unique key holds in the new month: the same sample again is not stored twice.
    again = MeterSample(charge_point=charge_point, connector_id=1, timestamp=long_ago, value="1")
    MeterSample.objects.bulk_create([again], ignore_conflicts=True)
    assert MeterSample.objects.filter(charge_point=charge_point).count() == 1


@pytest.mark.django_db
def test_a_query_by_time_reads_only_the_months_it_covers():
    this_month = Month.of(timezone.now())
    log_entry(this_month.start + timedelta(days=1))

    plan = OcppMessage.objects.filter(
        charge_point_id="CP-PART",
        created_at__gte=this_month.start + timedelta(hours=1),
        created_at__lt=this_month.start + timedelta(days=2),
    ).explain()

    assert this_month.name(LOG) in plan
    assert this_month.add(1).name(LOG) not in plan
    assert f"{LOG}_default" not in plan


@pytest.mark.django_db
def test_retention_drops_whole_months_older_than_the_limit(settings):
    settings.OCPP_MESSAGE_LOG_DAYS = 30
    now = timezone.now()
    old = Month.of(now - timedelta(days=90))
    partitions.create_month(LOG, old)
    for day in range(3):
        log_entry(old.start + timedelta(days=day))
    in_default = log_entry(datetime(2019, 5, 17, tzinfo=UTC))
    recent = log_entry(now - timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{old.name(LOG)}"')

    assert retention.prune_message_log(now) == 3 + 1

    assert not exists(old.name(LOG))
    assert not OcppMessage.objects.filter(pk=in_default.pk).exists()
    assert OcppMessage.objects.filter(pk=recent.pk).exists()
    assert exists(Month.of(now).name(LOG))


@pytest.mark.django_db
def test_retention_keeps_the_month_the_limit_falls_in_until_it_is_whole(settings):
    settings.OCPP_MESSAGE_LOG_DAYS = 30
    now = timezone.now()
    cutoff_month = Month.of(now - timedelta(days=30))
    partitions.create_month(LOG, cutoff_month)
    older_than_limit = log_entry(cutoff_month.start)

    retention.prune_message_log(now)

    assert OcppMessage.objects.filter(pk=older_than_limit.pk).exists()
    assert exists(cutoff_month.name(LOG))


@pytest.mark.django_db
def test_the_migration_moves_existing_rows_into_their_months_and_keeps_their_ids():
    # The plain table as Django made it before migration 0019, with rows of two months.
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{LOG}", "{SAMPLES}"')
    with connection.schema_editor() as schema_editor:
        schema_editor.create_model(OcppMessage)
        schema_editor.create_model(MeterSample)
    charge_point = ChargePoint.objects.create(charge_point_id="CP-PART-MIGRATED")
    march, may = datetime(2025, 3, 4, tzinfo=UTC), datetime(2025, 5, 6, tzinfo=UTC)
    entries = [log_entry(march), log_entry(may)]
    samples = [sample(charge_point, march), sample(charge_point, may)]
    assert not partitions.is_partitioned(LOG)

    with connection.schema_editor() as schema_editor:
        for table in partitions.PARTITIONED:
            partitions.partition_table(schema_editor, table)

    assert [partition_of(OcppMessage, entry.pk) for entry in entries] == [
        f"{LOG}_y2025m03",
        f"{LOG}_y2025m05",
    ]
    assert [partition_of(MeterSample, row.pk) for row in samples] == [
        f"{SAMPLES}_y2025m03",
        f"{SAMPLES}_y2025m05",
    ]
    assert f"{LOG}_y2025m04" not in {month.name(LOG) for month in partitions.months(LOG)}
    # New rows get the next ids, and the unique key still holds.
    assert log_entry(timezone.now()).pk == entries[-1].pk + 1
    again = MeterSample(charge_point=charge_point, connector_id=1, timestamp=march, value="1")
    MeterSample.objects.bulk_create([again], ignore_conflicts=True)
    assert MeterSample.objects.filter(charge_point=charge_point).count() == 2


@pytest.mark.django_db
def test_the_migration_back_to_0018_and_forward_again_keeps_the_partitioned_tables_and_rows():
    # The migration itself (the test database is built without migrations), on tables
    # already partitioned as production's are after it ran.
    name = "0019_partition_message_log_and_meter_samples"
    module = importlib.import_module(f"stations.migrations.{name}")
    migration = module.Migration(name, "stations")
    entry = log_entry(timezone.now())
    months = partitions.months(LOG)

    with connection.schema_editor() as schema_editor:
        state = migration.unapply(ProjectState(), schema_editor)
        migration.apply(state, schema_editor)

    assert partitions.is_partitioned(LOG) and partitions.is_partitioned(SAMPLES)
    assert partitions.months(LOG) == months
    assert partition_of(OcppMessage, entry.pk) == Month.of(timezone.now()).name(LOG)
