"""Booking a connector ahead from the portal; the rules are in charging/bookings.py.

Another driver's booking is a 404, as if it did not exist.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats, timezone
from django.utils.dateformat import time_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing.money import format_money
from charging import bookings, refusals
from portal.forms import BookForm
from portal.reservation_views import reservations_page, station_page


@login_required
@require_POST
def book(request: HttpRequest) -> HttpResponse:
    form = BookForm(request.user, request.POST)
    if not form.is_valid():
        connector = form.cleaned_data.get("connector")
        if connector is None:
            return render(
                request, "portal/error.html", {"message": _("Unknown connector.")}, status=400
            )
        error = next(iter(form.errors.values()))[0]
        return station_page(request, connector, error, 400, kind="book")
    connector = form.cleaned_data["connector"]
    try:
        booking = bookings.book(
            request.user,
            connector,
            form.starts_at(),
            form.cleaned_data["minutes"],
            form.cleaned_data["token"],
        )
    except refusals.Refused as refused:
        return station_page(request, connector, str(refused), refused.status, kind="book")
    zone = form.starts_at().tzinfo
    starts_at, ends_at = booking.starts_at.astimezone(zone), booking.ends_at.astimezone(zone)
    messages.success(
        request,
        _(
            "Booked: charger %(charger)s, connector %(connector)s on %(day)s from %(start)s "
            "to %(end)s. It is held for you from %(lead)d minutes before."
        )
        % {
            "charger": connector.charge_point.charge_point_id,
            "connector": connector.connector_id,
            "day": formats.date_format(starts_at, "SHORT_DATE_FORMAT"),
            "start": time_format(starts_at, "H:i"),
            "end": time_format(ends_at, "H:i"),
            "lead": settings.BOOKING_LEAD_MINUTES,
        },
    )
    return redirect("portal:reservations")


@login_required
@require_POST
def cancel(request: HttpRequest, booking_id: int) -> HttpResponse:
    booking = get_object_or_404(bookings.bookings_of(request.user), pk=booking_id)
    try:
        booking = bookings.cancel(request.user, booking, now=timezone.now())
    except refusals.Refused as refused:
        return reservations_page(request, error=str(refused), status=refused.status)
    if booking.fee_charged:
        messages.warning(
            request,
            _("Booking cancelled. It was too late to cancel for free: %(fee)s was charged.")
            % {"fee": format_money(booking.fee_charged)},
        )
    else:
        messages.success(request, _("Booking cancelled, free of charge."))
    return redirect("portal:reservations")
