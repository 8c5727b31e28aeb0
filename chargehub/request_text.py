"""Text no database can store, refused at the door with a 4xx rather than a 500 later.

PostgreSQL refuses a NUL character in text and JSON, and no database driver encodes a
lone surrogate (half of a UTF-16 pair) as UTF-8. Query strings and form posts are checked
by the middleware below; JSON bodies of the API by api/parsers.py and chargers' frames by
stations/ocpp/rpc.py, with the same rule.
"""

import re
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

UNSTORABLE_TEXT = gettext_lazy(
    "Text with a NUL character or an unpaired surrogate is not accepted: it cannot be stored."
)

# A multipart body Django cannot parse (no boundary, broken parts): a 400 with this text,
# here for form posts and in fleet/views.py for a charger's PUT upload.
UNREADABLE_MULTIPART = gettext_lazy("The body is not valid multipart/form-data.")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# The API reads JSON bodies only (api/parsers.py checks them) and answers in JSON.
API_PREFIX = "/api/"


def is_unstorable(text: str) -> bool:
    return UNSTORABLE.search(text) is not None


def first_unstorable(pairs: Iterable[tuple[str, list[str]]]) -> str | None:
    """The name of the first parameter whose name or value is unstorable text."""
    for name, values in pairs:
        if is_unstorable(name) or any(is_unstorable(value) for value in values):
            return name
    return None


def _refusal(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if request.path_info.startswith(API_PREFIX):  # as DRF answers its own errors
        return JsonResponse({"detail": message}, status=status)
    response = HttpResponseBadRequest if status == 400 else HttpResponse
    return response(message, status=status, content_type="text/plain; charset=utf-8")


def refuse_unstorable_text(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """Middleware: a NUL in the path is a 404 (no page has one in its address), in a query
    parameter or a field of a page's form a 400 naming it; a form post that cannot be
    parsed a 400 saying so."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if is_unstorable(request.path_info):
            return _refusal(request, 404, _("There is no such page."))
        params = list(request.GET.lists())
        # A form post is parsed here as CSRF protection would parse it anyway.
        if (
            request.method == "POST"
            and request.content_type in FORM_TYPES
            and not request.path_info.startswith(API_PREFIX)
        ):
            try:
                params += request.POST.lists()
            except MultiPartParserError:
                return _refusal(request, 400, str(UNREADABLE_MULTIPART))
        if (name := first_unstorable(params)) is not None:
            return _refusal(request, 400, f"{name[:50]!r}: {UNSTORABLE_TEXT}")
        return get_response(request)

    return middleware
