"""The "Notify me when free" button of the station page (portal:watch); rules in events.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from notifications import events
from stations import finder
from stations.models import Site


@login_required
@require_POST
def watch_station(request: HttpRequest, site_id: int) -> HttpResponse:
    """Watch one connector (POST connector=<pk>) or, without one, every connector of the
    station that is not free now."""
    site = get_object_or_404(Site, pk=site_id)
    states = [
        state
        for result in finder.group_by_site(finder.public_connectors(site_id=site.pk))
        for state in result.connectors
    ]
    wanted = request.POST.get("connector", "")
    if wanted:
        states = [state for state in states if str(state.connector.pk) == wanted]
        if not states:
            return redirect("portal:station", site_id=site.pk)  # not a connector of this place
    else:
        states = [state for state in states if not state.available]
    events.watch(request.user, [state.connector for state in states])
    if states:
        messages.success(
            request, _("We will email you once when a connector here becomes available.")
        )
    return redirect("portal:station", site_id=site.pk)
