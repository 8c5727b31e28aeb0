"""Admin pages of operations that are not a model's: the network dashboard, and a
ticket's remote repair.

Thin: the figures come from operations/dashboard.py, the repair from
operations/repair.py. Served under /admin/ through the admin site's own guard (staff,
active, logged in; chargehub/urls.py, operations/urls.py).
"""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from operations import dashboard, repair, tasks
from operations.models import Ticket

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


def _ticket_url(ticket: Ticket) -> str:
    try:
        return reverse("admin:operations_ticket_change", args=[ticket.pk])
    except NoReverseMatch:  # no ticket admin registered
        return reverse("operations:dashboard")


@require_http_methods(["GET", "POST"])
def remote_repair(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET: what the repair of this ticket will send, and a button; POST: start it (a
    Celery task; its steps appear on the ticket). Sending commands needs
    stations.send_commands, as every command to a charger does."""
    if not (
        request.user.has_perm("stations.send_commands")
        and request.user.has_perm("operations.view_ticket")
    ):
        raise PermissionDenied
    ticket = get_object_or_404(Ticket.objects.select_related("charge_point"), pk=ticket_id)
    back = _ticket_url(ticket)
    if request.method == "POST":
        try:
            tasks.repair_soon(ticket, request.user)
        except repair.RepairRefused as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, str(repair.STARTED))
        return HttpResponseRedirect(back)
    try:
        repair.check(ticket)
    except repair.RepairRefused as refused:
        refusal = refused.message
    else:
        refusal = None
    context = {
        **admin.site.each_context(request),
        "title": _("Remote repair of ticket #%(id)s") % {"id": ticket.pk},
        "opts": Ticket._meta,
        "ticket": ticket,
        "steps": repair.steps_for(ticket),
        "wait": settings.OPERATIONS_REPAIR_WAIT,
        "refusal": refusal,
        "back": back,
    }
    return TemplateResponse(request, "admin/operations/ticket_repair.html", context)
