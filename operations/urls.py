"""Operations' admin pages (included under /admin/operations/ in chargehub/urls.py)."""

from django.contrib import admin
from django.urls import path

from operations import views

app_name = "operations"

urlpatterns = [
    path(
        "dashboard/",
        admin.site.admin_view(views.network_dashboard),
        name="dashboard",
    ),
    path(
        "dashboard/live/",
        admin.site.admin_view(views.network_fragment),
        name="dashboard-live",
    ),
]
