"""Insights in admin: the dashboards (insights/views.py) behind one entry, and the
searches drivers made (read only)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from chargehub.admin_fields import ReadOnlyAdmin
from chargehub.databases import reads_from_replica
from insights import (
    decisions_admin,  # noqa: F401  the forecast, maintenance risks and site planning
    views,
)
from insights.models import Dashboard, SearchRecord


@admin.register(Dashboard)
class DashboardAdmin(ReadOnlyAdmin):
    """Not a list of rows: its pages are the dashboards each role may see."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(views.allowed_pages(request))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<str:name>/", view(self.page_view), name="insights_dashboard_page"),
            path("<str:name>/csv/<str:table>/", view(self.csv_view), name="insights_dashboard_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        pages = views.allowed_pages(request)
        if not pages:
            return self.page_view(request, "utilisation")  # answers 403
        return HttpResponseRedirect(reverse("admin:insights_dashboard_page", args=[pages[0][0]]))

    # Reports read from the read replica when there is one (DATABASE_REPLICA_URL).
    @reads_from_replica
    def page_view(self, request: HttpRequest, name: str) -> HttpResponse:
        # No navigation sidebar: wide tables and charts (as operations' uptime report).
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "is_nav_sidebar_enabled": False,
        }
        return views.dashboard(request, name, context)

    @reads_from_replica
    def csv_view(self, request: HttpRequest, name: str, table: str) -> HttpResponse:
        return views.table_csv(request, name, table)


@admin.register(SearchRecord)
class SearchRecordAdmin(admin.ModelAdmin):
    list_display = ["hour", "cell_latitude", "cell_longitude", "connector_type", "found_free"]
    list_filter = ["found_free", "connector_type"]
    date_hierarchy = "hour"

    # Recorded by the searches themselves: nothing to add or correct by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
