"""How the consumer reaches the database (stations/ocpp/database.py): what a call keeps
from the event loop and gives back to it, on both hops (SQLite's one thread, PostgreSQL's
pool); on PostgreSQL, no health check round trip before each call, and a connection that
died fails one call only."""

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import SyncToAsync, async_to_sync, sync_to_async
from django.db import DatabaseError, connection, connections

from stations.models import Site
from stations.ocpp.database import run_in_database
from tests.waiting import eventually

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="connection health checks are PostgreSQL's"
)

charger_id = contextvars.ContextVar[str]("charger_id")


def seen_in_the_database_thread() -> tuple[str, int, asyncio.AbstractEventLoop]:
    return charger_id.get(), threading.get_ident(), SyncToAsync.threadlocal.main_event_loop


async def test_a_call_runs_off_the_loop_with_the_callers_contextvars_and_knows_the_loop(db_access):
    charger_id.set("CP-CONTEXT")

    seen, thread, server_loop = await run_in_database(seen_in_the_database_thread)()

    assert seen == "CP-CONTEXT"
    assert thread != threading.get_ident()
    # stations/live.py's _relay finds the server's loop from the database thread by it.
    assert server_loop is asyncio.get_running_loop()


async def loop_running_it() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def send_from_sync_code() -> asyncio.AbstractEventLoop:
    return async_to_sync(loop_running_it)()


async def test_async_code_called_from_the_database_thread_runs_on_the_servers_loop(db_access):
    """As a handler's command or live update does (stations/ocpp/commands.from_sync_code)."""
    assert await run_in_database(send_from_sync_code)() is asyncio.get_running_loop()


class ChargerRefused(Exception):
    pass


def refuse(reason: str) -> None:
    raise ChargerRefused(reason)


async def test_an_exception_in_the_database_thread_reaches_the_caller(db_access):
    with pytest.raises(ChargerRefused, match="unknown charger"):
        await run_in_database(refuse)("unknown charger")


async def test_a_call_whose_charger_went_away_still_commits_its_work(db_access):
    """The consumer's task is cancelled when its charger disconnects: the database work
    that already started runs to its end and is kept."""
    started, release = threading.Event(), threading.Event()

    def record() -> None:
        started.set()
        release.wait(10)
        Site.objects.create(name="Recorded after the charger left")

    call = asyncio.create_task(run_in_database(record)())
    assert await asyncio.to_thread(started.wait, 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    release.set()
    assert await eventually(
        lambda: Site.objects.filter(name="Recorded after the charger left").exists()
    )


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.fixture
async def one_database_thread(db_access: None) -> AsyncIterator[None]:
    """The loop's calls on one thread, keeping its connection between calls as `serve` does."""
    settings = connections.settings["default"]
    previous = settings["CONN_MAX_AGE"], settings["CONN_HEALTH_CHECKS"]
    settings["CONN_MAX_AGE"], settings["CONN_HEALTH_CHECKS"] = 60, True
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(1))  # shut down with the test's loop
    try:
        yield
    finally:
        await loop.run_in_executor(None, connections.close_all)
        settings["CONN_MAX_AGE"], settings["CONN_HEALTH_CHECKS"] = previous


@postgresql_only
async def test_a_connection_that_died_between_calls_fails_one_call_then_is_replaced(
    one_database_thread,
):
    pid = run_in_database(backend_pid)
    first = await pid()
    assert await pid() == first  # kept between calls

    await sync_to_async(terminate)(first)

    # No SELECT 1 before the call (it would have reconnected quietly): the call fails, the
    # charger gets an InternalError, and the broken connection is closed after it.
    with pytest.raises(DatabaseError):
        await pid()
    assert await pid() != first
