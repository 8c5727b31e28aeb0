"""Insights in admin: the searches drivers made (read only); the dashboards are pages of
their own (insights/views.py)."""

from django.contrib import admin
from django.http import HttpRequest

from insights.models import SearchRecord


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
