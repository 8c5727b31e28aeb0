"""Which staff request the code runs in, for audit records: set by the middleware for
the admin and the staff API, read by audit/records.py when a watched model changes.

A context variable, so it follows the request into the thread Django runs a sync view
in (asgiref copies the context) and never leaks into another request.
"""

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)

# Path prefixes of the doors staff change things through, and the door's name.
DOORS = (("/admin/", "admin"), ("/api/", "api"))


@dataclass(frozen=True)
class Actor:
    user: Any
    door: str
    path: str


def door_of(path: str) -> str | None:
    return next((door for prefix, door in DOORS if path.startswith(prefix)), None)


def staff_requests(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., Any]:
    """Middleware: remember the request while admin or the API handles it."""

    def middleware(request: HttpRequest) -> HttpResponse:
        token = _request.set(request if door_of(request.path) else None)
        try:
            return get_response(request)
        finally:
            _request.reset(token)

    return middleware


def current_actor() -> Actor | None:
    """The member of staff whose admin or API request this is, or None.

    The user is read now, not when the request came in: the API authenticates tokens in
    the view (DRF sets it on the request then).
    """
    request = _request.get()
    if request is None:
        return None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return None
    return Actor(user=user, door=door_of(request.path) or "", path=request.path[:200])
