"""The public pages of guest payment at the charger; the rules are in billing/guest.py.

No login: a guest has no account. The public id (a random UUID) in the address of the
payment, status and receipt pages is what lets a guest, and only them, see their
payment. Errors are pages with a clear message and a 4xx/5xx status: 400 a bad form,
404 an unknown connector or guest payment, 409 a connector that cannot start now, 503
card payments not configured or Stripe not reachable.
"""

import logging
from typing import Any
from uuid import UUID

import stripe
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from billing import documents, guest, payments, tariffs
from billing.models import GuestPayment
from billing.money import format_amount, format_rate
from billing.tariffs import PricePreview, UnitPrice
from stations.models import Connector

logger = logging.getLogger(__name__)

Status = GuestPayment.Status
# While something is still to happen, the status page reloads itself (seconds).
REFRESH_SECONDS = {Status.CREATED: 0, Status.AUTHORISED: 5, Status.STARTED: 30}


class GuestForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Email for the receipt"),
        required=False,
        help_text=gettext_lazy("Optional: you can also download the receipt from the next page."),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )


def _error_page(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "billing/guest/error.html", {"message": message}, status=status)


def _guest_payment(public_id: UUID) -> GuestPayment | None:
    return (
        GuestPayment.objects.select_related("connector__charge_point", "receipt")
        .filter(public_id=public_id)
        .first()
    )


def _unknown_guest_payment(request: HttpRequest) -> HttpResponse:
    return _error_page(request, _("There is no such payment. Please scan the code again."), 404)


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def connector_page(request: HttpRequest, charge_point_id: str, connector_id: int) -> HttpResponse:
    """The price of a connector, and the form that starts paying for it."""
    connector = (
        Connector.objects.select_related("charge_point__site")
        .filter(charge_point__charge_point_id=charge_point_id, connector_id=connector_id)
        .exclude(connector_id=0)
        .first()
    )
    if connector is None:
        return _error_page(request, _("There is no such connector. Please check the code."), 404)
    form = GuestForm(request.POST if request.method == "POST" else None)
    status, refusal = 200, None
    try:
        guest.check_can_start(connector)
    except guest.GuestPaymentError as error:
        refusal = error
        # Card payment not set up is the server's fault, whatever the guest asks for.
        status = 503 if isinstance(error, guest.NotConfigured) else 200

    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            try:
                guest_payment = guest.start(
                    connector, email=form.cleaned_data["email"], language=get_language()
                )
            except guest.GuestPaymentError as error:
                refusal = error
                status = 503 if isinstance(error, guest.NotConfigured) else 409
            else:
                return redirect("guest:pay", public_id=guest_payment.public_id)

    context = {
        "connector": connector,
        "charge_point": connector.charge_point,
        "online": connector.charge_point.is_online(),
        "form": form,
        "refusal": refusal,
        "prices": _prices(tariffs.price_preview(connector, None)),
        "preauthorisation": format_amount(settings.BILLING_GUEST_PREAUTHORISATION),
    }
    return render(request, "billing/guest/connector.html", context, status=status)


@login_not_required
@never_cache
@require_GET
def payment_page(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Stripe.js takes the card and confirms the PaymentIntent, then goes to the status."""
    guest_payment = _guest_payment(public_id)
    if guest_payment is None:
        return _unknown_guest_payment(request)
    if guest_payment.status != Status.CREATED or not guest_payment.payment_intent_id:
        return redirect("guest:status", public_id=public_id)
    if not guest.configured():  # Stripe.js needs the publishable key too
        return _error_page(request, str(guest.NotConfigured()), 503)
    try:
        secret = guest.client_secret(guest_payment)
    except payments.PaymentsNotConfigured:
        return _error_page(request, str(guest.NotConfigured()), 503)
    except stripe.StripeError:
        logger.exception("Guest %s: PaymentIntent not retrieved", public_id)
        return _error_page(request, _("The card payment service cannot be reached."), 503)
    context = {
        "guest_payment": guest_payment,
        "connector": guest_payment.connector,
        "amount": format_amount(guest_payment.amount_authorised),
        # Read by the page's script (json_script): never put into the HTML as text.
        "stripe_config": {
            "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
            "clientSecret": secret,
            "email": guest_payment.email,
            "returnUrl": request.build_absolute_uri(
                guest_payment_url("guest:status", guest_payment)
            ),
        },
    }
    return render(request, "billing/guest/payment.html", context)


@login_not_required
@never_cache
@require_GET
def status_page(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Where the guest is sent after paying: starts the charger, then follows the session."""
    guest_payment = _guest_payment(public_id)
    if guest_payment is None:
        return _unknown_guest_payment(request)
    try:
        guest_payment = guest.card_authorised(guest_payment)
    except payments.PaymentsNotConfigured:
        return _error_page(request, str(guest.NotConfigured()), 503)
    except stripe.StripeError:
        logger.exception("Guest %s: PaymentIntent not retrieved", public_id)
        return _error_page(
            request, _("The card payment service cannot be reached. Please reload the page."), 503
        )
    session = guest.session_of(guest_payment)
    price = guest.cost_so_far(guest_payment) if session is not None else None
    refresh = REFRESH_SECONDS.get(guest_payment.status, 0)
    if guest_payment.status == Status.CREATED and not guest_payment.error:
        refresh = 5  # the card may still be confirming
    context = {
        "guest_payment": guest_payment,
        "connector": guest_payment.connector,
        "session": session,
        "cost": format_amount(price.gross) if price is not None else None,
        "energy_kwh": price.energy_kwh if price is not None else None,
        "authorised": format_amount(guest_payment.amount_authorised),
        "captured": (
            format_amount(guest_payment.amount_captured)
            if guest_payment.amount_captured is not None
            else None
        ),
        "refresh": refresh,
    }
    return render(request, "billing/guest/status.html", context)


@login_not_required
@require_GET
def receipt_pdf(request: HttpRequest, public_id: UUID) -> HttpResponse:
    guest_payment = _guest_payment(public_id)
    if guest_payment is None:
        return _unknown_guest_payment(request)
    if guest_payment.receipt is None:
        return _error_page(request, _("The receipt is issued when the session has ended."), 404)
    receipt = guest_payment.receipt
    response = HttpResponse(documents.render_pdf(receipt), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{receipt.display_number}.pdf"'
    return response


def guest_payment_url(name: str, guest_payment: GuestPayment) -> str:
    return reverse(name, kwargs={"public_id": guest_payment.public_id})


# --- Showing prices ----------------------------------------------------------------------------


def _unit(price: UnitPrice | None) -> dict[str, Any] | None:
    if price is None:
        return None
    return {
        "gross": format_amount(price.gross, unit_price=True),
        "net": format_amount(price.net, unit_price=True),
        "is_zero": not price.gross,
    }


def _prices(preview: PricePreview | None) -> dict[str, Any] | None:
    """A price preview with its amounts formatted, for the connector page."""
    if preview is None:
        return None
    return {
        "tariff": preview.tariff,
        "currency": preview.currency,
        "vat_rate": format_rate(preview.vat_rate),
        "time_zone": preview.time_zone,
        "per_kwh": _unit(preview.price_per_kwh),
        "per_minute": _unit(preview.price_per_minute),
        "session_fee": _unit(preview.session_fee),
        "idle_fee": _unit(preview.idle_fee_per_minute),
        "idle_grace_minutes": preview.idle_grace_minutes,
        "min_price": _unit(preview.min_price),
        "max_price": _unit(preview.max_price),
        "current_period": preview.current_period,
        "periods": [
            {
                "name": period.name,
                "weekdays": ", ".join(str(WEEKDAYS_ABBR[day - 1]) for day in period.weekdays),
                "start": period.start,
                "end": period.end,
                "per_kwh": _unit(period.price_per_kwh),
                "per_minute": _unit(period.price_per_minute),
            }
            for period in preview.time_of_use
        ],
    }
