"""Admin pages of operations that are not a model's: the network dashboard.

Thin: the figures come from operations/dashboard.py. Served under /admin/ through the
admin site's own guard (staff, active, logged in; chargehub/urls.py), and only to staff
who may view charge points.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from operations import dashboard

VIEW_PERMISSION = "stations.view_chargepoint"


def _network_context(request: HttpRequest) -> dict:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    return {"network": dashboard.network(), "columns": dashboard.COLUMNS}


def network_dashboard(request: HttpRequest) -> HttpResponse:
    """Chargers and connectors by state, per site and in total, and what needs attention."""
    context = {
        **admin.site.each_context(request),
        "title": _("Network dashboard"),
        **_network_context(request),
    }
    return TemplateResponse(request, "admin/operations/dashboard.html", context)


def network_fragment(request: HttpRequest) -> HttpResponse:
    """The dashboard's figures alone, which its page reloads on a live update.

    `?part=counts`: the counts only, as the admin home shows them.
    """
    template = (
        "admin/operations/_network_counts.html"
        if request.GET.get("part") == "counts"
        else "admin/operations/_network.html"
    )
    return TemplateResponse(request, template, _network_context(request))
