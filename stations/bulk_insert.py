"""One multi-row INSERT (or COPY) for model instances (or objects with the fields as
attributes), for the rows the OCPP path writes by the hundred (meter samples, the
message log).

bulk_create sends the same statement, but Django compiles it anew each time (on
PostgreSQL as INSERT ... SELECT FROM UNNEST of arrays that psycopg quotes in Python):
2.5 times the CPU of this for a MeterValues call's two samples (docs/performance.md).
No primary keys are set on the instances (bulk_create sets them on PostgreSQL) and no
signals are sent.

On PostgreSQL psycopg parses the whole statement for its placeholders on every execute,
whether it binds the parameters on the client or, as configured by default, on the server
(DATABASE_PREPARE_THRESHOLD), and caches that only for statements under 4 KB. For
the message log's 500-row INSERT that parsing was 9 % of a busy server (#17's profile);
copy() streams the same rows with COPY instead, which has no statement to parse.

insert_arrays() is PostgreSQL's INSERT of many rows from one array per column, unnested:
its SQL is short and the same for any count (one statement to prepare), and it needs no
transaction. For a handful of rows psycopg's dumping of the arrays (in Python) costs more
than a multi-row INSERT's parameters (docs/performance.md, "Fifth session").

insert_one() is the same INSERT for one row, with its primary key returned: a session's
start skips a conflicting row without a savepoint around it (two round trips); the rows
a connect storm writes by the thousand (ConnectionEvent, operations' ChargerBoot) are not
compiled anew each time.
"""

from contextlib import nullcontext
from functools import cache, lru_cache
from typing import Any

from django.db import connection, models, transaction

# Rows per statement: SQLite takes at most 32,766 parameters in one.
ROWS_PER_STATEMENT = 500


@cache
def fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    """The columns an INSERT writes: every concrete field but the primary key."""
    return tuple(field for field in model._meta.concrete_fields if not field.primary_key)


def values(model: type[models.Model], instance: models.Model) -> list[Any]:
    """An instance's column values as the database takes them (what bulk_create sends)."""
    return [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in fields(model)
    ]


def insert_sql(model: type[models.Model], rows: int, *, ignore_conflicts: bool) -> str:
    """The INSERT of `rows` rows of `model` (every column but the primary key), built
    once per shape: its parameters are values() of each instance in turn."""
    return _sql(model, connection.vendor, rows, ignore_conflicts)


@lru_cache(maxsize=64)  # a few shapes in use: batch sizes of the log and of samples
def _sql(model: type[models.Model], vendor: str, rows: int, ignore_conflicts: bool) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields(model))
    row = "(" + ", ".join(["%s"] * len(fields(model))) + ")"
    # ON CONFLICT DO NOTHING: PostgreSQL and SQLite 3.24+.
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
        f"VALUES {', '.join([row] * rows)}{conflicts}"
    )


def insert(
    model: type[models.Model],
    instances: list[Any],
    *,
    ignore_conflicts: bool = False,
    ready: bool = False,
) -> None:
    """Insert `instances`; with `ignore_conflicts`, rows a unique constraint refuses are
    skipped. Several statements (above ROWS_PER_STATEMENT) store all or nothing.

    `ready`: each instance is a tuple of the columns' values (fields() order) as the
    database takes them, written without the fields' conversions (as copy())."""
    several = len(instances) > ROWS_PER_STATEMENT
    with transaction.atomic(savepoint=False) if several else nullcontext():
        with connection.cursor() as cursor:
            for start in range(0, len(instances), ROWS_PER_STATEMENT):
                batch = instances[start : start + ROWS_PER_STATEMENT]
                cursor.execute(
                    insert_sql(model, len(batch), ignore_conflicts=ignore_conflicts),
                    [
                        value
                        for instance in batch
                        for value in (instance if ready else values(model, instance))
                    ],
                )


def insert_arrays(
    model: type[models.Model], columns: list[list[Any]], *, ignore_conflicts: bool = False
) -> None:
    """PostgreSQL: insert the rows whose values are `columns`, one list per column of
    fields() in its order, all of one length, with one statement whatever their number;
    with `ignore_conflicts`, rows a unique constraint refuses are skipped.

    The values are written as they are, without the fields' conversions (as copy(ready=
    True)): each must already be what PostgreSQL takes for its column (aware datetimes,
    Decimals, str)."""
    with connection.cursor() as cursor:
        cursor.execute(_arrays_sql(model, ignore_conflicts), columns)


@cache
def _arrays_sql(model: type[models.Model], ignore_conflicts: bool) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields(model))
    # The arrays' types without their modifiers (varchar, not varchar(40)), as bulk_create:
    # a value is checked and rounded against its column when it is inserted, as in VALUES.
    types = [field.db_type(connection).split("(")[0] for field in fields(model)]
    arrays = ", ".join(f"%s::{db_type}[]" for db_type in types)
    conflicts = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "
        f"SELECT * FROM unnest({arrays}){conflicts}"
    )


def insert_one(instance: models.Model, *, ignore_conflicts: bool = False) -> bool:
    """Insert one instance and set its primary key; with `ignore_conflicts`, a row a
    unique constraint refuses is skipped and False returned (no error, so the transaction
    goes on without a savepoint). No signals are sent (as bulk_create)."""
    model = type(instance)
    quote = connection.ops.quote_name
    sql = insert_sql(model, 1, ignore_conflicts=ignore_conflicts)
    sql += f" RETURNING {quote(model._meta.pk.column)}"  # PostgreSQL, SQLite 3.35+
    with connection.cursor() as cursor:
        cursor.execute(sql, values(model, instance))
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return True


def copy(model: type[models.Model], instances: list[Any], *, ready: bool = False) -> None:
    """PostgreSQL: COPY `instances` into the model's table, all or nothing (into a
    partitioned table's parent, which routes each row). COPY cannot skip conflicting rows:
    for tables without unique constraints but the primary key (the message log).

    `ready`: each instance is a tuple of the columns' values (fields() order) as
    PostgreSQL takes them, written without the fields' conversions (message_log.Entry)."""
    # The raw psycopg cursor: its errors are made Django's (DatabaseError) by hand.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(_copy_sql(model)) as stream:
            for instance in instances:
                stream.write_row(instance if ready else values(model, instance))


@cache
def _copy_sql(model: type[models.Model]) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields(model))
    return f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
