"""Prepared statements on PostgreSQL (DATABASE_PREPARE_THRESHOLD, chargehub/settings.py).

By default a PostgreSQL connection binds parameters on the server and psycopg prepares a
statement once the connection has run it 5 times, so PostgreSQL parses and plans it once;
"off" leaves Django's default (parameters bound on the client, nothing prepared), for a
pooler in transaction mode. SQLite is untouched. The whole suite runs on PostgreSQL with
the default, which is what proves the queries work with server-side binding.
"""

import pytest
from django.conf import settings
from django.db import connection

from stations.models import ChargePoint
from tests.fresh_process import printed, run_with, settings_code

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/chargehub"


OPTIONS = settings_code("settings.DATABASES['default'].get('OPTIONS', {})")


def database_options(env: dict[str, str]) -> dict:
    """The default database's OPTIONS in a fresh process started with `env` (no connection
    is made)."""
    return printed(env, OPTIONS)


def test_postgresql_binds_on_the_server_and_prepares_after_five_runs_by_default():
    options = database_options({"DATABASE_URL": POSTGRES_URL})

    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5


def test_a_threshold_that_is_not_a_number_stops_start_up_with_a_sentence():
    result = run_with(
        {"DATABASE_URL": POSTGRES_URL, "DATABASE_PREPARE_THRESHOLD": "five"}, "-c", OPTIONS
    )

    assert result.returncode != 0
    assert "DATABASE_PREPARE_THRESHOLD is a number of runs (5 by default) or off, not 'five'." in (
        result.stderr
    )


def test_the_threshold_is_configurable():
    options = database_options({"DATABASE_URL": POSTGRES_URL, "DATABASE_PREPARE_THRESHOLD": "1"})

    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 1


def test_off_leaves_djangos_client_side_binding_for_a_transaction_pooler():
    options = database_options({"DATABASE_URL": POSTGRES_URL, "DATABASE_PREPARE_THRESHOLD": "off"})

    assert "server_side_binding" not in options
    assert "prepare_threshold" not in options


def test_sqlite_is_left_alone():
    options = database_options({"DATABASE_URL": "sqlite:///unused.sqlite3"})

    assert "server_side_binding" not in options
    assert "prepare_threshold" not in options


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_a_query_is_prepared_once_the_connection_has_run_it_threshold_times():
    threshold = settings.DATABASES["default"].get("OPTIONS", {}).get("prepare_threshold")
    if threshold is None:
        pytest.skip("DATABASE_PREPARE_THRESHOLD=off")
    charge_point = ChargePoint.objects.create(charge_point_id="PREPARED-1")
    query = ChargePoint.objects.filter(charge_point_id="PREPARED-1")

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
                ['%"stations_chargepoint"."charge_point_id" = $1%'],
            )
            return [statement for (statement,) in cursor.fetchall()]

    for _ in range(threshold):
        assert query.get() == charge_point
    assert prepared() == []
    assert query.get() == charge_point  # the next run prepares it
    assert len(prepared()) == 1
    assert query.get() == charge_point  # and later runs use it
    assert len(prepared()) == 1
