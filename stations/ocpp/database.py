"""How code on the event loop (the consumer, the message log) reaches the database."""

from collections.abc import Callable
from functools import lru_cache
from types import FunctionType
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connection, connections


class ConsumerDatabaseCall(SyncToAsync):
    """channels' database_sync_to_async without a health check round trip per call.

    With CONN_HEALTH_CHECKS, every call would start with a `SELECT 1` (Django checks a
    connection again after each close_old_connections): 17 % of a PostgreSQL server's
    time under load (docs/performance.md). A connection that was fine at the end of the
    last call is trusted; one that died since fails that call (the charger gets an
    InternalError, as during any PostgreSQL restart), and Django closes it after it
    (errors_occurred), so the next call connects again. Web requests keep the check.
    """

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        for open_connection in connections.all(initialized_only=True):
            if open_connection.connection is not None:
                open_connection.health_check_done = True
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()


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
    return ConsumerDatabaseCall(function, thread_sensitive=connection.vendor == "sqlite")


@lru_cache(maxsize=256)
def _kept(function: Callable[..., Any]) -> ConsumerDatabaseCall:
    return ConsumerDatabaseCall(function, thread_sensitive=connection.vendor == "sqlite")
