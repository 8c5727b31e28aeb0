"""Admin of maintenance windows (operations/maintenance.py) and inspection schedules."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from operations.models import MaintenanceWindow

# --- Maintenance windows (operations/maintenance.py) -------------------------------------


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    """Planned maintenance: the beat task makes the chargers Inoperative at the start and
    Operative after the end. Once applied, what it covers and when it started are fixed,
    and it cannot be deleted until released (set its end to end it early)."""

    list_display = [
        "__str__",
        "starts_at",
        "ends_at",
        "reason",
        "state",
        "applied_at",
        "released_at",
    ]
    list_filter = ["site"]
    search_fields = ["reason", "site__name", "charge_point__charge_point_id"]
    autocomplete_fields = ["site", "charge_point"]
    date_hierarchy = "starts_at"
    fields = [
        "site",
        "charge_point",
        "starts_at",
        "ends_at",
        "reason",
        "created_by",
        "applied_at",
        "released_at",
    ]

    def get_readonly_fields(
        self, request: HttpRequest, obj: MaintenanceWindow | None = None
    ) -> list[str]:
        fixed = ["created_by", "applied_at", "released_at"]
        if obj is not None and obj.released_at is not None:
            return [*fixed, "site", "charge_point", "starts_at", "ends_at", "reason"]
        if obj is not None and obj.applied_at is not None:
            return [*fixed, "site", "charge_point", "starts_at"]
        return fixed

    def has_delete_permission(
        self, request: HttpRequest, obj: MaintenanceWindow | None = None
    ) -> bool:
        # Deleting a window in force would leave its chargers Inoperative for good.
        if obj is not None and obj.applied_at is not None and obj.released_at is None:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MaintenanceWindow]) -> None:
        # The bulk action too: windows in force stay (their end ends them).
        in_force = queryset.filter(applied_at__isnull=False, released_at__isnull=True)
        if in_force.exists():
            messages.warning(
                request,
                _("Windows in force were kept: set their end to end them: %(windows)s")
                % {"windows": ", ".join(str(window) for window in in_force)},
            )
        super().delete_queryset(request, queryset.exclude(pk__in=in_force.values("pk")))

    @admin.display(description=_("state"))
    def state(self, window: MaintenanceWindow) -> str:
        now = timezone.now()
        if window.released_at is not None or window.ends_at <= now:
            return str(_("Ended"))
        if window.starts_at <= now:
            return str(_("In force")) if window.applied_at else str(_("Starting"))
        return str(_("Planned"))

    def save_model(
        self, request: HttpRequest, obj: MaintenanceWindow, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
