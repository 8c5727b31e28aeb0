"""How meter samples reach the database: a retransmitted sample is stored once.

MeterSample's unique constraint (charger, connector, time, measurand, phase, location,
context, format, unit) is what tells a retransmitted sample apart, so every write skips
conflicting rows instead of failing: INSERT ... ON CONFLICT DO NOTHING.

A MeterValues call brings a handful of samples: one multi-row INSERT is one round trip
(stations/bulk_insert.py, not bulk_create: the same statement at 40 % of the CPU). On
PostgreSQL its values are the samples' attributes as they are (the handler builds them
aware, Decimal and str), not each field's get_db_prep_save per sample; its SQL is one per
sample count, prepared per connection like any other.

A large batch (from ARRAYS_FROM: a StopTransaction's transactionData, a charger emptying its
offline queue) is one INSERT from one array per column on PostgreSQL
(bulk_insert.insert_arrays): one statement whatever the count, no transaction, and faster
than the multi-row INSERT and than COPY through a staging table, which it replaces. Below
ARRAYS_FROM psycopg's dumping of the arrays costs the server more than the multi-row
INSERT's parameters. Measured in docs/performance.md ("Fifth session").
"""

from operator import attrgetter

from django.db import connection

from stations import bulk_insert
from stations.models import MeterSample

# From how many samples the arrays' INSERT is used (PostgreSQL).
ARRAYS_FROM = 500

# A sample's column values in bulk_insert.fields() order.
_row = attrgetter(*(field.attname for field in bulk_insert.fields(MeterSample)))


def store(samples: list[MeterSample]) -> None:
    """Insert `samples`, skipping any already stored (a retransmission)."""
    if not samples:
        return
    if connection.vendor != "postgresql":
        bulk_insert.insert(MeterSample, samples, ignore_conflicts=True)
    elif len(samples) < ARRAYS_FROM:
        bulk_insert.insert(MeterSample, list(map(_row, samples)), ignore_conflicts=True, ready=True)
    else:
        columns = [list(column) for column in zip(*map(_row, samples), strict=True)]
        bulk_insert.insert_arrays(MeterSample, columns, ignore_conflicts=True)
