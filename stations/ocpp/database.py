"""How code on the event loop (the consumer, the message log) reaches the database."""

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.db import connection


def run_in_database(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run ORM work for a consumer off the event loop.

    PostgreSQL takes concurrent writers, so handlers run on the thread pool. SQLite has
    one writer at a time: threads would only queue for its lock (sleeping between
    retries), so there all ORM work goes through Django's one thread-sensitive thread.
    """
    return database_sync_to_async(function, thread_sensitive=connection.vendor == "sqlite")
