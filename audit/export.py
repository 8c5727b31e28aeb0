"""Audit records as CSV, the same columns from admin and the staff API; streamed, and
cells a spreadsheet would run as a formula quoted (chargehub/admin_csv.py `cell`)."""

import csv
import json
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from audit.models import AuditRecord
from chargehub.admin_csv import cell

HEADER = [
    "at",
    "actor",
    "door",
    "action",
    "object_type",
    "object_id",
    "object",
    "before",
    "after",
    "request",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _json(value: object) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def rows(records: Iterable[AuditRecord]) -> Iterator[list[str]]:
    yield HEADER
    for record in records:
        yield [
            cell(record.at),
            cell(record.actor_email),
            record.door,
            record.action,
            record.object_type,
            cell(record.object_id),
            cell(record.object_repr),
            cell(_json(record.before)),
            cell(_json(record.after)),
            cell(record.path),
        ]


def csv_response(records: QuerySet[AuditRecord]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows(records.iterator(chunk_size=2000))),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
