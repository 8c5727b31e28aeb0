"""The optional read replica (DATABASE_REPLICA_URL) and the router that sends chosen reads
to it.

Pages that read much and may be a moment behind the primary (the message log in admin,
the insights dashboards, the uptime report) take their GET's reads from the replica
(`reads_from_replica`); every other read, and every write, stays on the primary, so
nothing that decides (a charger's call, billing, a beat task) reads stale rows. Without
a replica configured nothing changes.
"""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse

REPLICA = "replica"
PRIMARY_ONLY_APPS = {"auth", "users", "sessions", "contenttypes"}

_reading = ContextVar("reads_from_replica", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside go to the replica, if there is one."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reads_from_replica[V: Callable[..., HttpResponse]](view: V) -> V:
    """An admin view method `(self, request, ...)` whose GET reads the replica; its
    template is rendered inside, where the lazy querysets are read."""

    @functools.wraps(view)
    def wrapped(model_admin: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in {"GET", "HEAD"}:
            return view(model_admin, request, *args, **kwargs)
        with replica_reads():
            response = view(model_admin, request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
        return response

    return wrapped  # type: ignore[return-value]


class ReplicaRouter:
    """settings.DATABASE_ROUTERS: reads inside `replica_reads()` to the replica."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        # Who may see the page (users, groups, permissions, the session) is decided on
        # the primary: a permission just taken away must not pass for the replica's lag.
        if (
            _reading.get()
            and REPLICA in connections.settings
            and model._meta.app_label not in PRIMARY_ONLY_APPS
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same rows, whichever copy they were read from

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # the replica follows the primary's schema
