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
    # Next to the ticket's admin pages (admin/operations/ticket/<id>/change/).
    path(
        "ticket/<int:ticket_id>/repair/",
        admin.site.admin_view(views.remote_repair),
        name="ticket-repair",
    ),
]
