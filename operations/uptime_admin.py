"""Admin for uptime: the report pages (on UptimeMonth's place in the admin) and the
outages staff exclude (OutageExclusion)."""

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext as _

from chargehub.admin_fields import ReadOnlyAdmin
from chargehub.databases import reads_from_replica
from operations import figures, uptime, uptime_views
from operations.models import OutageExclusion, UptimeMonth
from stations.models import ChargePoint


@admin.register(UptimeMonth)
class UptimeMonthAdmin(ReadOnlyAdmin):
    """Uptime per month: the list is the report (figures, charts, tables, CSV); the rows
    are computed, never edited."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("outages/", view(self.outages_view), name="operations_uptimemonth_outages"),
            path("csv/<str:table>/", view(self.csv_view), name="operations_uptimemonth_csv"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest) -> dict[str, Any]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # No navigation sidebar: these pages are wide tables and charts, and rendering
        # every app's models again on each load was a third of the report's time.
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "is_nav_sidebar_enabled": False,
        }

    # The report reads from the read replica when there is one (DATABASE_REPLICA_URL).
    @reads_from_replica
    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return uptime_views.report(request, self._context(request))

    @reads_from_replica
    def outages_view(self, request: HttpRequest) -> HttpResponse:
        return uptime_views.outages(request, self._context(request))

    @reads_from_replica
    def csv_view(self, request: HttpRequest, table: str) -> HttpResponse:
        self._context(request)
        return uptime_views.csv_export(request, table)


@admin.register(OutageExclusion)
class OutageExclusionAdmin(admin.ModelAdmin):
    """An outage staff exclude from uptime (23 CFR 680.116(b)(2)): a cause and a reason,
    for a site, a charger or a connector. Saving one recomputes the months it touches."""

    list_display = [
        "starts_at",
        "ends_at",
        "cause",
        "site",
        "charge_point",
        "connector",
        "created_by",
    ]
    list_filter = ["cause", "site"]
    date_hierarchy = "starts_at"
    search_fields = ["reason", "charge_point__charge_point_id", "site__name"]
    autocomplete_fields: list[str] = []
    raw_id_fields = ["charge_point", "connector"]
    readonly_fields = ["created_by", "created_at"]
    fields = [
        "cause",
        "reason",
        "starts_at",
        "ends_at",
        "site",
        "charge_point",
        "connector",
        "created_by",
        "created_at",
    ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """From the outage list's "Exclude" link: its port and times (ISO 8601)."""
        initial = super().get_changeform_initial_data(request)
        for name in ("starts_at", "ends_at"):
            try:
                initial[name] = datetime.fromisoformat(request.GET.get(name, ""))
            except ValueError:
                initial.pop(name, None)
        return initial

    def save_model(
        self, request: HttpRequest, obj: OutageExclusion, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        count = refresh_for(obj)
        messages.info(request, _("Uptime recomputed for %(count)d port-months.") % {"count": count})

    def delete_model(self, request: HttpRequest, obj: OutageExclusion) -> None:
        super().delete_model(request, obj)
        refresh_for(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[OutageExclusion]) -> None:
        exclusions = list(queryset)
        super().delete_queryset(request, queryset)
        for obj in exclusions:
            refresh_for(obj)


def refresh_for(exclusion: OutageExclusion) -> int:
    """Recompute the summary of the months and chargers an exclusion touches."""
    if exclusion.connector_id:
        charge_points = ChargePoint.objects.filter(connectors=exclusion.connector_id)
    elif exclusion.charge_point_id:
        charge_points = ChargePoint.objects.filter(pk=exclusion.charge_point_id)
    else:
        charge_points = ChargePoint.objects.filter(site=exclusion.site_id)
    months = uptime.months_between(exclusion.starts_at, exclusion.ends_at)
    return figures.refresh(months, charge_points.select_related("site"))
