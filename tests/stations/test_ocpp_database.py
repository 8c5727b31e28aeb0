"""How the consumer reaches the database (stations/ocpp/database.py): on PostgreSQL, no
health check round trip before each call; a connection that died fails one call only."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection, connections

from stations.ocpp.database import ConsumerDatabaseCall

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="connection health checks are PostgreSQL's"
)


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.fixture
def one_thread(db_access: None) -> Iterator[ThreadPoolExecutor]:
    """Calls on one thread, keeping its connection between calls as `serve` does."""
    settings = connections.settings["default"]
    previous = settings["CONN_MAX_AGE"], settings["CONN_HEALTH_CHECKS"]
    settings["CONN_MAX_AGE"], settings["CONN_HEALTH_CHECKS"] = 60, True
    pool = ThreadPoolExecutor(1)
    try:
        yield pool
    finally:
        pool.submit(connections.close_all).result()
        pool.shutdown()
        settings["CONN_MAX_AGE"], settings["CONN_HEALTH_CHECKS"] = previous


async def test_a_connection_that_died_between_calls_fails_one_call_then_is_replaced(one_thread):
    pid = ConsumerDatabaseCall(backend_pid, thread_sensitive=False, executor=one_thread)
    first = await pid()
    assert await pid() == first  # kept between calls

    await sync_to_async(terminate)(first)

    # No SELECT 1 before the call (it would have reconnected quietly): the call fails, the
    # charger gets an InternalError, and the broken connection is closed after it.
    with pytest.raises(DatabaseError):
        await pid()
    assert await pid() != first
