"""The API's one body parser: JSON, refusing with a 400 what would fail later as a 500."""

import codecs
import json
import math
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from chargehub.request_text import UNSTORABLE_TEXT, is_unstorable

# No request body of this API nests deeper than a command payload (a charging profile:
# about 6 levels); the limit is far above that and far below Python's recursion limit.
MAX_DEPTH = 32


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e309: beyond a float, and beyond any column
        raise ValueError(_("the number %(number)s is too large") % {"number": text[:30]})
    return number


def _no_constant(name: str) -> None:
    # NaN and Infinity are JavaScript, not JSON (RFC 8259 §6).
    raise ValueError(_("%(name)s is not a JSON number") % {"name": name})


def refusal(data: Any) -> str | None:
    """Why a parsed body is refused (too deep, unstorable text), or None. Iterative, so
    that a deep body cannot exhaust the stack here either."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return _("The body nests deeper than %(depth)d levels.") % {"depth": MAX_DEPTH}
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and is_unstorable(key):
                    return str(UNSTORABLE_TEXT)
                pending.append((item, depth + 1))
        elif isinstance(value, str) and is_unstorable(value):
            return str(UNSTORABLE_TEXT)
    return None


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: dict[str, Any] | None = None,
    ) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        try:
            data = json.load(
                codecs.getreader(encoding)(stream),
                parse_float=_finite_float,
                parse_constant=_no_constant,
            )
        except RecursionError:
            raise ParseError(
                _("The body nests deeper than %(depth)d levels.") % {"depth": MAX_DEPTH}
            ) from None
        except ValueError as error:  # also bad UTF-8 and integers of over 4,300 digits
            raise ParseError(
                _("The body is not valid JSON: %(error)s") % {"error": error}
            ) from None
        if (reason := refusal(data)) is not None:
            raise ParseError(reason)
        return data
