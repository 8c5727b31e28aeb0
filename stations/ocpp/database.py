"""How code on the event loop (the consumer, the message log) reaches the database."""

import asyncio
import contextvars
import os
from collections.abc import Callable
from functools import lru_cache
from types import FunctionType
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connection, connections


def _trust_open_connections() -> None:
    """close_old_connections without the health check round trip it would cause.

    With CONN_HEALTH_CHECKS, every call would start with a `SELECT 1` (Django checks a
    connection again after each close_old_connections): 17 % of a PostgreSQL server's
    time under load (docs/performance.md). A connection that was fine at the end of the
    last call is trusted; one that died since fails that call (the charger gets an
    InternalError, as during any PostgreSQL restart), and Django closes it after it
    (errors_occurred), so the next call connects again. Web requests keep the check.
    """
    close_old_connections()
    for open_connection in connections.all(initialized_only=True):
        if open_connection.connection is not None:
            open_connection.health_check_done = True


class ConsumerDatabaseCall(SyncToAsync):
    """channels' database_sync_to_async without a health check round trip per call.

    SQLite's hop: asgiref's, to Django's one thread-sensitive thread.
    """

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        _trust_open_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()


class PoolDatabaseCall:
    """PostgreSQL's hop: SyncToAsync(thread_sensitive=False) without asgiref's machinery.

    As asyncio.to_thread: the function runs in the loop's default pool (ASGI_THREADS
    under daphne), in a copy of the caller's contextvars; its result or exception comes
    back. Connections as in _trust_open_connections; asgiref's thread-locals are set
    (stations/live.py's _relay and async_to_sync find the server's loop by them). A
    cancelled caller (the charger went away) does not stop a started call, which runs to
    its end; as with asgiref, a queued one is dropped and an async_to_sync task the
    thread waits on is cancelled. Unlike asgiref, contextvars set in the thread stay
    there and the loop's asgiref Locals are not moved to it: its callers use neither.
    The hop took 8-14 % of a busy server's Python time with asgiref, 5-6 % so
    (docs/performance.md, sixth session).
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        waiting_on_loop: list[asyncio.Task[Any]] = []
        call = loop.run_in_executor(
            None,
            _run_in_thread,
            loop,
            waiting_on_loop,
            contextvars.copy_context(),
            self.function,
            args,
            kwargs,
        )
        try:
            return await call
        except asyncio.CancelledError:
            for task in waiting_on_loop:
                task.cancel()
            raise


def _run_in_thread(
    loop: asyncio.AbstractEventLoop,
    waiting_on_loop: list[asyncio.Task[Any]],
    context: contextvars.Context,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    # asgiref's thread-locals: async_to_sync in this thread runs on the server's loop,
    # and registers its task in `waiting_on_loop`, so a cancelled caller cancels it.
    local = SyncToAsync.threadlocal
    local.main_event_loop = loop
    local.main_event_loop_pid = os.getpid()
    local.task_context = waiting_on_loop
    _trust_open_connections()
    try:
        return context.run(function, *args, **kwargs)
    finally:
        close_old_connections()


DatabaseCall = ConsumerDatabaseCall | PoolDatabaseCall


def run_in_database(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run ORM work for a consumer off the event loop.

    PostgreSQL takes concurrent writers, so handlers run on the thread pool. SQLite has
    one writer at a time: threads would only queue for its lock (sleeping between
    retries), so there all ORM work goes through Django's one thread-sensitive thread.
    A module's function gets one wrapper, kept: building it (functools.update_wrapper,
    inspect) for every OCPP call was 1 % of a busy server's event loop.
    """
    if isinstance(function, FunctionType) and function.__closure__ is None:
        return _kept(function)
    # A bound method or a closure: a new object each time, so never kept.
    return _database_call(function)


@lru_cache(maxsize=256)
def _kept(function: Callable[..., Any]) -> DatabaseCall:
    return _database_call(function)


def _database_call(function: Callable[..., Any]) -> DatabaseCall:
    if connection.vendor == "sqlite":
        return ConsumerDatabaseCall(function, thread_sensitive=True)
    return PoolDatabaseCall(function)
