"""The admin site staff open every day: apps in the order they use them, and dj-stripe's
forty-odd synced models behind one entry."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

# What staff use most first; apps not named here follow, in their usual order.
APP_ORDER = [
    "operations",
    "insights",
    "stations",
    "fleet",
    "billing",
    "notifications",
    "users",
    "audit",
    "account",
    "auth",
]
# Mirrors of Stripe's objects, kept by dj-stripe: looked up now and then, never edited.
STRIPE_APP = "djstripe"


class ChargeHubAdminSite(admin.AdminSite):
    site_header = _("ChargeHub administration")
    site_title = _("ChargeHub")

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        """Django's, with the navigation sidebar's list of every app's models built only
        when a page draws the sidebar: 99 models' URLs and permissions, ~4 ms of each load
        of the pages that hide it (docs/performance.md, the big tables)."""
        script_name = request.META["SCRIPT_NAME"]
        return {
            "site_title": self.site_title,
            "site_header": self.site_header,
            "site_url": script_name if self.site_url == "/" and script_name else self.site_url,
            "has_permission": self.has_permission(request),
            "available_apps": SimpleLazyObject(lambda: self.get_app_list(request)),
            "is_popup": False,
            "is_nav_sidebar_enabled": self.enable_nav_sidebar,
            "log_entries": self.get_log_entries(request),
        }

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps  # one app's own page shows all its models, Stripe's too
        for app in apps:
            if app["app_label"] == STRIPE_APP:
                app["name"] = _("Stripe (synced)")
                app["models"] = []  # the entry links to the app's page, which lists them

        def position(app: dict[str, Any]) -> tuple[int, int]:
            label = app["app_label"]
            if label == STRIPE_APP:
                return (2, 0)
            if label in APP_ORDER:
                return (0, APP_ORDER.index(label))
            return (1, 0)

        return sorted(apps, key=position)
