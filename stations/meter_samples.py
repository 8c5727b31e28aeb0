"""How meter samples reach the database: a retransmitted sample is stored once.

MeterSample's unique constraint (charger, connector, time, measurand, phase, location,
context, format, unit) is what tells a retransmitted sample apart, so every write skips
conflicting rows instead of failing. A MeterValues call brings a handful of samples: one
INSERT ... ON CONFLICT DO NOTHING is one round trip (stations/bulk_insert.py, not
bulk_create: the same statement at 40 % of the CPU). A large batch (a StopTransaction's
transactionData, a charger emptying its offline queue) goes through COPY on PostgreSQL,
which does not build and parse one big INSERT statement: COPY into a temporary table,
then one statement moves its rows over with ON CONFLICT DO NOTHING (COPY itself cannot
skip conflicts). Measured in docs/performance.md (bench/ocpp_database_calls.py --samples).
"""

from django.db import connection, transaction

from stations import bulk_insert
from stations.models import MeterSample

# From how many samples COPY is used (PostgreSQL): the two cost the same at about 200
# (measured), COPY is 1.5-2x faster from 1,000 on; below, one INSERT is one round trip.
COPY_FROM = 500

STAGING_TABLE = "meter_sample_copy"


def store(samples: list[MeterSample]) -> None:
    """Insert `samples`, skipping any already stored (a retransmission)."""
    if connection.vendor == "postgresql" and len(samples) >= COPY_FROM:
        copy(samples)
    else:
        bulk_insert.insert(MeterSample, samples, ignore_conflicts=True)


def copy(samples: list[MeterSample]) -> None:
    """PostgreSQL: COPY into a temporary table of this session, then one INSERT from it."""
    fields = bulk_insert.fields(MeterSample)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(MeterSample._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        # The columns without their constraints; emptied at each commit, kept for the
        # database session.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS "
            f"AS SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {STAGING_TABLE} ({columns}) FROM STDIN") as stream:
            for sample in samples:
                stream.write_row(bulk_insert.values(MeterSample, sample))
        # Moved, not copied: a second COPY in the same transaction starts empty.
        cursor.execute(
            f"WITH moved AS (DELETE FROM {STAGING_TABLE} RETURNING {columns}) "
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM moved "
            "ON CONFLICT DO NOTHING"
        )
