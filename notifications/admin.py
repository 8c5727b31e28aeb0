"""The outbox in admin: what was sent, what is waiting, what failed and why; staff
resend failed messages (notifications/outbox.py resend)."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from notifications import outbox
from notifications.models import OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "channel",
        "recipient",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["state", "channel", "kind"]
    search_fields = ["key", "recipient__email", "kind"]
    list_select_related = ["recipient"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = ["resend"]
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]

    @admin.action(description=_("Resend the selected failed messages"), permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox.resend(queryset)
        self.message_user(
            request,
            ngettext("%(count)d message queued again.", "%(count)d messages queued again.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages come from events, never typed in

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of what was sent, and the key that keeps it once
