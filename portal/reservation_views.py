"""Reserving a connector from the portal; the rules are in charging/reservations.py.
The page of the driver's reservations lists their bookings too (portal/booking_views.py).

Another driver's reservation is a 404, as if it did not exist.
"""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.dateformat import time_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from charging import bookings, refusals, reservations
from portal.forms import ReserveForm
from portal.views import SOURCE, _station_context
from stations.models import Connector, Reservation


def _local_time(reservation: Reservation) -> str:
    """The reservation's end as the clock at the charger shows it."""
    site = reservation.charge_point.site
    try:
        zone = ZoneInfo(site.time_zone) if site else None
    except (ValueError, ZoneInfoNotFoundError):
        zone = None
    expires_at: datetime = timezone.localtime(reservation.expires_at, zone)
    return time_format(expires_at, "H:i")


def station_page(
    request: HttpRequest, connector: Connector, error: str, status: int, *, kind: str = "reserve"
) -> HttpResponse:
    """The station page again, with `error` at the connector's reserve or book form."""
    site = connector.charge_point.site
    if site is None:
        return render(request, "portal/error.html", {"message": error}, status=status)
    context = _station_context(
        request, site, **{f"{kind}_error": error, f"{kind}_connector_id": connector.pk}
    )
    return render(request, "portal/station_detail.html", context, status=status)


@login_required
@require_POST
def reserve(request: HttpRequest) -> HttpResponse:
    form = ReserveForm(request.user, request.POST)
    if not form.is_valid():
        connector = form.cleaned_data.get("connector")
        if connector is None:
            return render(
                request, "portal/error.html", {"message": _("Unknown connector.")}, status=400
            )
        error = next(iter(form.errors.values()))[0]
        return station_page(request, connector, error, 400)
    connector = form.cleaned_data["connector"]
    try:
        reservation = reservations.reserve(
            request.user,
            connector,
            form.cleaned_data["minutes"],
            form.cleaned_data["token"],
            source=SOURCE,
        )
    except refusals.Refused as refused:
        return station_page(request, connector, str(refused), refused.status)
    token = form.cleaned_data["token"]
    if token is None:
        how = _("start charging here in the portal")
    else:
        how = _("start charging with %(token)s") % {"token": token.name or token.uid}
    messages.success(
        request,
        _(
            "Charger %(charger)s, connector %(connector)s is held for you until %(time)s. "
            "Plug in your car and %(how)s before then."
        )
        % {
            "charger": connector.charge_point.charge_point_id,
            "connector": connector.connector_id,
            "time": _local_time(reservation),
            "how": how,
        },
    )
    return redirect("portal:station", site_id=connector.charge_point.site_id)


def reservations_page(
    request: HttpRequest, *, error: str | None = None, status: int = 200
) -> HttpResponse:
    """The driver's reservations and bookings, with `error` of an action just refused."""
    user = request.user
    context = {
        "held": reservations.held_by(user),
        "ended": reservations.ended_of(user),
        "bookings": bookings.upcoming_of(user),
        "error": error,
    }
    response = render(request, "portal/reservations.html", context, status=status)
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
@require_safe
def my_reservations(request: HttpRequest) -> HttpResponse:
    return reservations_page(request)


@login_required
@require_POST
def cancel(request: HttpRequest, reservation_id: int) -> HttpResponse:
    reservation = get_object_or_404(reservations.reservations_of(request.user), pk=reservation_id)
    try:
        reservations.cancel(request.user, reservation, source=SOURCE)
    except refusals.Refused as refused:
        return reservations_page(request, error=str(refused), status=refused.status)
    messages.success(
        request,
        _("Reservation cancelled: charger %(charger)s, connector %(connector)s is free again.")
        % {
            "charger": reservation.charge_point.charge_point_id,
            "connector": reservation.connector_id,
        },
    )
    return redirect("portal:reservations")
