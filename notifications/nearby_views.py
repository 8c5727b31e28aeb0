"""*Find me a charger* in the portal: start a nearby watch, send the position while the
page is open, stop it. The rules are in notifications/nearby.py; the card on the station
list is notifications/templatetags/nearby.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from notifications import nearby
from notifications.forms import NearbyWatchForm, PositionForm


@login_required
@require_POST
def start(request: HttpRequest) -> HttpResponse:
    """Start (or restart) the driver's watch; a malformed position or wish is a 400."""
    form = NearbyWatchForm(request.POST)
    if not form.is_valid():
        message = " ".join(
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
        return render(request, "portal/error.html", {"message": message}, status=400)
    data = form.cleaned_data
    watch = nearby.start(
        request.user,
        data["latitude"],
        data["longitude"],
        data["radius_km"],
        data["connector_type"],
        data["min_power_kw"],
    )
    until = formats.time_format(timezone.localtime(watch.expires_at), "TIME_FORMAT")
    messages.success(
        request,
        _("We will tell you once when a charger near you becomes free, until %(time)s.")
        % {"time": until},
    )
    return redirect("portal:stations")


@login_required
@require_POST
def position(request: HttpRequest) -> HttpResponse:
    """The page's position update: 204 while the watch runs, 404 when it has ended (the
    page stops sending), 400 for a malformed position."""
    form = PositionForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("This is not a position."), status=400, content_type="text/plain")
    if not nearby.move(request.user, form.cleaned_data["latitude"], form.cleaned_data["longitude"]):
        return HttpResponse(status=404)
    return HttpResponse(status=204)


@login_required
@require_POST
def stop(request: HttpRequest) -> HttpResponse:
    """End the driver's watch; their position is deleted with it."""
    if nearby.stop(request.user):
        messages.success(request, _("We stopped looking, and your position is deleted."))
    return redirect("portal:stations")
