"""Monthly partitions of the two biggest tables on PostgreSQL: the message log and samples.

Every frame (OcppMessage) and every sampled value (MeterSample) is kept, so these tables
grow by millions of rows a day. On PostgreSQL each is range-partitioned by its time
column, one partition per calendar month (UTC), plus a default partition:

- a query with a time range reads only the months it covers (partition pruning);
- retention drops a whole month at once instead of deleting rows (stations/retention.py);
- the default partition takes a row for which no month exists yet, so an insert never
  fails; creating that month later moves such rows into it.

A partitioned table's primary key must contain the partition key, so in SQL it is
(id, <time column>); Django keeps `id` as the model's pk. Ids stay unique: they come from
the table's one identity sequence. Nothing references these two tables by foreign key
(and nothing can by `id` alone); a later migration that alters their `id` must keep the
key (id, time column) by hand. Added columns, indexes and unique keys that contain the
time column work as on a plain table.

SQLite keeps plain tables, and so does PostgreSQL until the migration
(stations 0019) has run `partition_table`. Months are created ahead by the beat task
and by `manage.py create_partitions`.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

logger = logging.getLogger(__name__)

# Table -> the time column it is partitioned by.
PARTITIONED = {
    "stations_ocppmessage": "created_at",
    "stations_metersample": "timestamp",
}
# Months created ahead of the current one: beat failing for weeks still leaves room.
MONTHS_AHEAD = 3
# A partition is created, attached or dropped only if its lock comes within this time:
# waiting longer would queue every charger's insert behind it. The next run tries again.
LOCK_TIMEOUT = "5s"

MONTH_NAME = re.compile(r"_y(\d{4})m(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """One monthly partition's range: [start, end) in UTC."""

    start: datetime

    @classmethod
    def of(cls, moment: datetime) -> "Month":
        moment = moment.astimezone(UTC)
        return cls(datetime(moment.year, moment.month, 1, tzinfo=UTC))

    @property
    def end(self) -> datetime:
        year, month = divmod(self.start.month, 12)
        return self.start.replace(year=self.start.year + year, month=month + 1)

    def add(self, months: int) -> "Month":
        year, month = divmod(self.start.month - 1 + months, 12)
        return Month(self.start.replace(year=self.start.year + year, month=month + 1))

    @property
    def bounds(self) -> str:
        """The partition bound in SQL (DDL takes no query parameters)."""
        return f"FOR VALUES FROM ('{self.start.isoformat()}') TO ('{self.end.isoformat()}')"

    def name(self, table: str) -> str:
        return f"{table}_y{self.start.year}m{self.start.month:02d}"


def enabled() -> bool:
    """Whether the tables are partitioned here: PostgreSQL once the migration has run."""
    return connection.vendor == "postgresql" and is_partitioned("stations_ocppmessage")


def is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def months(table: str) -> list[Month]:
    """The table's monthly partitions, oldest first (the default partition is not one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass",
            [table],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = (MONTH_NAME.search(name) for name in names)
    return sorted(
        Month(datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)) for m in found if m is not None
    )


def create_ahead(now: datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create this month's and the next `months_ahead` months' partitions where missing.

    Returns the names created. Does nothing where the tables are not partitioned.
    """
    if not enabled():
        return []
    this_month = Month.of(now or timezone.now())
    created = []
    for table in PARTITIONED:
        existing = set(months(table))
        for ahead in range(months_ahead + 1):
            month = this_month.add(ahead)
            if month not in existing:
                create_month(table, month)
                created.append(month.name(table))
    if created:
        logger.info("Partitions created: %s", ", ".join(created))
    return created


def create_month(table: str, month: Month) -> None:
    """Create one month's partition, moving into it the rows the default partition holds
    for that month (PostgreSQL refuses a new partition while the default has its rows)."""
    column = PARTITIONED[table]
    name = month.name(table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # LIKE without INCLUDING IDENTITY: ids come from the parent's sequence only.
        cursor.execute(
            f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{table}_default"'
            f' WHERE "{column}" >= %s AND "{column}" < %s RETURNING *)'
            f' INSERT INTO "{name}" SELECT * FROM moved',
            [month.start, month.end],
        )
        # Attaching builds the parent's indexes and keys on the new month.
        cursor.execute(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" {month.bounds}')


def drop_month(table: str, month: Month) -> int:
    """Drop one month's partition (instant, whatever its size); returns its row count as
    PostgreSQL last estimated it (counting would read the whole month)."""
    name = month.name(table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(
            "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", [name]
        )
        (rows,) = cursor.fetchone()
        # Deferred foreign key checks of rows deleted earlier in this transaction must run
        # first: PostgreSQL refuses to drop a table with pending trigger events.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f'DROP TABLE "{name}"')
    logger.info("Partition %s dropped (about %d rows)", name, rows)
    return int(rows)


def partition_table(
    schema_editor: BaseDatabaseSchemaEditor, table: str, now: datetime | None = None
) -> None:
    """Turn a plain table into a partitioned one with the same columns, keys and indexes,
    its rows moved into monthly partitions (one per month that has rows, and this month
    and MONTHS_AHEAD ahead) and a default partition. For the migration and the test
    database, which is built from the models; PostgreSQL only.

    The table is locked while its rows are copied: on a large log, run it in a quiet hour
    or prune the log first (docs/performance.md says how long it takes).
    """
    column = PARTITIONED[table]
    old = f"{table}_unpartitioned"
    execute = schema_editor.execute
    with schema_editor.connection.cursor() as cursor:
        # Keys and indexes as they are, to recreate them with the same names.
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('c', 'u', 'f') ORDER BY conname",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexdef FROM pg_indexes i WHERE tablename = %s AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            [table],
        )
        indexes = [definition for (definition,) in cursor.fetchall()]
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', \"{column}\" AT TIME ZONE 'UTC') FROM \"{table}\""
        )
        filled = {Month(start.replace(tzinfo=UTC)) for (start,) in cursor.fetchall()}
    for _name, definition in constraints:
        if definition.startswith("UNIQUE") and not re.search(rf"\b{column}\b", definition):
            raise ValueError(f"{table}: a unique key without {column} cannot be partitioned")

    execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    execute(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING IDENTITY)'
        f' PARTITION BY RANGE ("{column}")'
    )
    this_month = Month.of(now or timezone.now())
    wanted = filled | {this_month.add(ahead) for ahead in range(MONTHS_AHEAD + 1)}
    for month in sorted(wanted):
        execute(f'CREATE TABLE "{month.name(table)}" PARTITION OF "{table}" {month.bounds}')
    execute(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
    execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    execute(
        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'),"
        f' (SELECT coalesce(max(id), 0) + 1 FROM "{old}"), false)'
    )
    execute("SET CONSTRAINTS ALL IMMEDIATE")  # as in drop_month
    execute(f'DROP TABLE "{old}"')
    execute(f'ALTER SEQUENCE {_sequence(schema_editor, table)} RENAME TO "{table}_id_seq"')
    # Built after the copy (faster), with the names Django gave them.
    execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id, "{column}")')
    for name, definition in constraints:
        execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for definition in indexes:
        execute(definition)
    execute(f'ANALYZE "{table}"')


def _sequence(schema_editor: BaseDatabaseSchemaEditor, table: str) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [f'"{table}"'])
        (sequence,) = cursor.fetchone()
    return sequence
