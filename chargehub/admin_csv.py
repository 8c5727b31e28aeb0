""" "Export as CSV" for admin lists: the selected rows, or the whole filtered list (admin's
"select all"), with the columns the list shows.

Streamed, so a list of a million rows does not sit in memory; cells that a spreadsheet
would read as a formula are quoted (OWASP: CSV injection).
"""

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import label_for_field, lookup_field
from django.db.models import Model, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.html import strip_tags
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

# A cell starting with one of these runs as a formula in Excel and LibreOffice.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() hands back what it was given (for streaming)."""

    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> str:
    """One value as CSV text: times in UTC ISO 8601, booleans as yes/no, no formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = strip_tags(force_str(value))
    if text.startswith(FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fields(model_admin: admin.ModelAdmin, request: HttpRequest) -> list[str]:
    return [name for name in model_admin.get_list_display(request) if name != "action_checkbox"]


def rows(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Model]
) -> Iterator[list[str]]:
    fields = _fields(model_admin, request)
    yield [
        capfirst(force_str(label_for_field(name, queryset.model, model_admin))) for name in fields
    ]
    for obj in queryset.iterator(chunk_size=2000):
        yield [cell(lookup_field(name, obj, model_admin)[2]) for name in fields]


@admin.action(description=_("Export as CSV"), permissions=["view"])
def export_csv(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Model]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    select = model_admin.get_list_select_related(request)
    if select is True:
        queryset = queryset.select_related()
    elif select:
        queryset = queryset.select_related(*select)
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows(model_admin, request, queryset)),
        content_type="text/csv; charset=utf-8",
    )
    name = queryset.model._meta.model_name
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response
