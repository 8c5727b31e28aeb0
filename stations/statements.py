"""A StatusNotification's two writes in one statement on PostgreSQL.

A StatusNotification stores its StatusEvent and sets the connector's current status if it
is the newest. With the ORM that is an INSERT and an UPDATE in a transaction: four round
trips with BEGIN and COMMIT, each statement compiled anew (#17's profile: BEGIN/COMMIT
8 % and Django's SQL compiler 7.5 % of a busy server; docs/performance.md, "Third
session"). On PostgreSQL one data-modifying CTE does both atomically without a
transaction block, its SQL built once per process. SQLite keeps the ORM's two statements
in one transaction.

A BootNotification reads the charger's registration and previous boot and writes what it
says about itself: on PostgreSQL one UPDATE returning the row as it was (`record_boot`),
instead of BEGIN, SELECT, UPDATE and COMMIT, each statement compiled anew.

A connect makes its connection the charger's owner and keeps it in the online history
(ConnectionEvent): on PostgreSQL one statement (`record_connected`), instead of an UPDATE
(two when another connection held the charger) and an INSERT, each compiled anew (#17:
12 % of a connect storm's profile with the boot's INSERT).
"""

from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from stations import bulk_insert
from stations.models import ChargePoint, ConnectionEvent, Connector, StatusEvent

# The connector's columns a status sets; no others (the connector may be a kept instance
# while staff edit its other fields).
CURRENT_FIELDS = ("status", "error_code", "info", "vendor_id", "vendor_error_code", "status_at")


def record_status(event: StatusEvent, current: dict[str, Any]) -> bool:
    """Insert `event` (its pk set) and write `current` (CURRENT_FIELDS) on its connector
    unless the connector's status is newer than `current["status_at"]`: a late
    notification goes into the history only. True when the connector was written.

    Call it outside a transaction: on PostgreSQL the statement is atomic by itself."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            event.save(force_insert=True)
            newest = Q(status_at__isnull=True) | Q(status_at__lte=current["status_at"])
            return bool(Connector.objects.filter(newest, pk=event.connector_id).update(**current))
    fields = [Connector._meta.get_field(name) for name in CURRENT_FIELDS]
    current_values = [field.get_db_prep_save(current[field.name], connection) for field in fields]
    params = bulk_insert.values(StatusEvent, event)
    params += [*current_values, event.connector_id, current_values[-1]]  # status_at last
    return _inserting(event, _status_sql(), params)


def _inserting(instance: Any, sql: str, params: list[Any]) -> Any:
    """Run a statement that inserts `instance` and answers (its primary key, a value): set
    the key on it as insert_one() does; the value."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pk, answer = cursor.fetchone()
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
    return answer


@cache
def _status_sql() -> str:
    quote = connection.ops.quote_name
    insert = bulk_insert.insert_sql(StatusEvent, 1, ignore_conflicts=False)
    table = quote(Connector._meta.db_table)
    columns = {name: quote(Connector._meta.get_field(name).column) for name in CURRENT_FIELDS}
    sets = ", ".join(f"{column} = %s" for column in columns.values())
    status_at = columns["status_at"]
    # Both run on one snapshot; the UPDATE's condition is checked again against a row
    # another call changed meanwhile (READ COMMITTED), as the ORM's UPDATE is.
    return (
        f"WITH event AS ({insert} RETURNING {quote(StatusEvent._meta.pk.column)}), "
        f"newest AS (UPDATE {table} SET {sets} WHERE {quote(Connector._meta.pk.column)} = %s"
        f" AND ({status_at} IS NULL OR {status_at} <= %s) RETURNING 1) "
        "SELECT (SELECT * FROM event), EXISTS (SELECT FROM newest)"
    )


def record_boot(
    charge_point_id: int, fields: dict[str, Any], accepted_interval: int
) -> tuple[str, Any]:
    """Write a boot's `fields` on the charge point (pk `charge_point_id`), and the heartbeat
    interval `accepted_interval` too when it is Accepted; return its registration status
    and its last_boot_at as they were before. ChargePoint.DoesNotExist when it is gone.

    Call it outside a transaction: on PostgreSQL the statement is atomic by itself (the
    row is locked while it is read, as the status decides the interval written)."""
    accepted = ChargePoint.Registration.ACCEPTED
    if connection.vendor != "postgresql":
        with transaction.atomic():
            row = ChargePoint.objects.filter(pk=charge_point_id)
            status, previous_boot_at = row.values_list("registration_status", "last_boot_at").get()
            extra = {"heartbeat_interval": accepted_interval} if status == accepted else {}
            row.update(**fields, **extra)
        return status, previous_boot_at
    names = tuple(fields)
    values = [
        ChargePoint._meta.get_field(name).get_db_prep_save(fields[name], connection)
        for name in names
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            _boot_sql(names), [*values, str(accepted), accepted_interval, charge_point_id]
        )
        row = cursor.fetchone()
    if row is None:
        raise ChargePoint.DoesNotExist("ChargePoint matching query does not exist.")
    return row[0], row[1]


@cache
def _boot_sql(names: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    table = quote(ChargePoint._meta.db_table)
    column = {name: quote(ChargePoint._meta.get_field(name).column) for name in names}
    status = quote(ChargePoint._meta.get_field("registration_status").column)
    last_boot = quote(ChargePoint._meta.get_field("last_boot_at").column)
    interval = quote(ChargePoint._meta.get_field("heartbeat_interval").column)
    pk = quote(ChargePoint._meta.pk.column)
    sets = ", ".join(f"{column[name]} = %s" for name in names)
    # The FROM reads the row as it was, locked (READ COMMITTED: the newest version).
    return (
        f"UPDATE {table} SET {sets}, {interval} = CASE WHEN old.{status} = %s THEN %s "
        f"ELSE {table}.{interval} END "
        f"FROM (SELECT {pk}, {status}, {last_boot} FROM {table} WHERE {pk} = %s FOR UPDATE) old "
        f"WHERE {table}.{pk} = old.{pk} RETURNING old.{status}, old.{last_boot}"
    )


# The charge point's columns a connect writes (connections.mark_connected).
CONNECTED_FIELDS = ("is_connected", "connection_id", "connected_at", "last_seen_at", "protocol")


def record_connected(
    charge_point_id: int, connected: dict[str, Any], event: ConnectionEvent
) -> bool:
    """Write `connected` (CONNECTED_FIELDS) on the charge point (pk `charge_point_id`) and
    insert `event` (its pk set); True when the charger had no connection before (its
    connection_id was empty). IntegrityError when the charge point is gone.

    Call it outside a transaction: on PostgreSQL the statement is atomic by itself (the
    row is locked while it is read, as the ORM's UPDATE of it would lock it)."""
    if connection.vendor != "postgresql":
        row = ChargePoint.objects.filter(pk=charge_point_id)
        alone = bool(row.filter(connection_id="").update(**connected))
        if not alone:
            row.update(**connected)
        bulk_insert.insert_one(event)
        return alone
    values = [
        ChargePoint._meta.get_field(name).get_db_prep_save(connected[name], connection)
        for name in CONNECTED_FIELDS
    ]
    params = [*bulk_insert.values(ConnectionEvent, event), *values, charge_point_id]
    return bool(_inserting(event, _connected_sql(), params))


@cache
def _connected_sql() -> str:
    quote = connection.ops.quote_name
    insert = bulk_insert.insert_sql(ConnectionEvent, 1, ignore_conflicts=False)
    table = quote(ChargePoint._meta.db_table)
    sets = ", ".join(
        f"{quote(ChargePoint._meta.get_field(name).column)} = %s" for name in CONNECTED_FIELDS
    )
    owner = quote(ChargePoint._meta.get_field("connection_id").column)
    pk = quote(ChargePoint._meta.pk.column)
    # The FROM reads the owner as it was, locked as an UPDATE locks (READ COMMITTED: the
    # newest version), so concurrent connects are ordered as the ORM's UPDATEs were.
    return (
        f"WITH event AS ({insert} RETURNING {quote(ConnectionEvent._meta.pk.column)}), "
        f"connected AS (UPDATE {table} SET {sets} "
        f"FROM (SELECT {pk}, {owner} FROM {table} WHERE {pk} = %s FOR NO KEY UPDATE) old "
        f"WHERE {table}.{pk} = old.{pk} RETURNING old.{owner} = '' AS alone) "
        "SELECT (SELECT * FROM event), COALESCE((SELECT alone FROM connected), false)"
    )
