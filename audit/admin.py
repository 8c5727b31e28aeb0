"""Audit records in admin: read-only, for those with audit.view_auditrecord (the
operator admin role, users/roles.py), exportable as CSV."""

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit import export
from audit.models import AuditRecord
from chargehub.admin_fields import ReadOnlyAdmin


@admin.action(description=_("Export as CSV"), permissions=["view"])
def export_csv(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: Any) -> Any:
    """Every column, before and after in full: the same file as the staff API's."""
    return export.csv_response(queryset)


# Written by the audit alone: nobody adds, changes or deletes a record here.
@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "actor_email",
        "door",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
    ]
    list_filter = ["action", "door", "object_type"]
    search_fields = ["actor_email", "object_repr", "=object_id"]
    date_hierarchy = "at"
    actions = [export_csv]
    fields = [
        "at",
        "actor",
        "actor_email",
        "door",
        "path",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "before_json",
        "after_json",
    ]
    readonly_fields = fields

    @admin.display(description=_("changes"))
    def changes(self, record: AuditRecord) -> str:
        """before → after per field, one line each (also the CSV's column)."""
        before, after = record.before or {}, record.after or {}
        return "; ".join(
            f"{name}: {json.dumps(before.get(name), ensure_ascii=False)} → "
            f"{json.dumps(after.get(name), ensure_ascii=False)}"
            for name in sorted(set(before) | set(after))
        )

    @admin.display(description=_("before"))
    def before_json(self, record: AuditRecord) -> str:
        return _pre(record.before)

    @admin.display(description=_("after"))
    def after_json(self, record: AuditRecord) -> str:
        return _pre(record.after)


def _pre(value: Any) -> str:
    if value is None:
        return "—"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))
