"""Pages of the driver portal; the rules are in the charging app (start, stop,
reserve), stations/finder.py and billing. Another driver's session or token is a 404,
as if it did not exist."""

import csv
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from billing import documents, money, no_show, payment_choice, tariffs, wallet
from billing.models import Invoice, WalletEntry
from billing.session_figures import figures, format_duration
from chargehub.spreadsheet import text_cell
from charging import refusals, reservations, start_stop, tokens
from notifications import events
from operations import emergency, maintenance
from portal.forms import (
    BookForm,
    ReserveForm,
    StartForm,
    StationFilterForm,
    TokenForm,
    TokenNameForm,
)
from stations import bookings, finder, opening_hours
from stations.models import ChargingSession, Connector, Site
from users.models import IdToken, User

# Recorded with the commands the portal sends (ChargerCommand.source).
SOURCE = "portal"
HISTORY_LENGTH = 50
STATIONS_PER_PAGE = 50


def _status_labels() -> dict[str, str]:
    # For the live-update script: connector statuses in the page's language.
    return {value: str(label) for value, label in Connector.Status.choices}


@login_not_required
@require_safe
def station_list(request: HttpRequest) -> HttpResponse:
    form = StationFilterForm(request.GET or None)
    user = request.user if request.user.is_authenticated else None
    wanted = form.station_filter(user) if request.GET else finder.StationFilter()
    # Only the page shown is read from the database (stations/finder.py); the map gets
    # that page's points.
    page = Paginator(finder.find_sites(wanted), STATIONS_PER_PAGE).get_page(request.GET.get("page"))
    results = page.object_list
    if request.GET and page.number == 1:  # a driver's search, counted once (not per page)
        finder.announce_search(wanted, results)
    # Sites stopped in an emergency show as out of service, with nothing available.
    out_of_service = emergency.stopped_site_ids([result.site.pk for result in results])
    # The price in force now at each connector shown, in a fixed number of queries.
    prices = tariffs.current_prices(
        [state.connector for result in results for state in result.connectors], user
    )
    markers = [
        {
            "name": result.site.name,
            "lat": float(result.site.latitude),
            "lon": float(result.site.longitude),
            "url": reverse("portal:station", args=[result.site.pk]),
            "available": 0 if result.site.pk in out_of_service else result.available_count,
            "total": len(result.connectors),
        }
        for result in results
        if result.site.latitude is not None and result.site.longitude is not None
    ]
    context = {
        "form": form,
        "results": results,
        "page_obj": page,
        "markers": markers,
        "out_of_service": out_of_service,
        "status_labels": _status_labels(),
        "prices": prices,
        "site_prices": {
            result.site.pk: tariffs.price_from(prices[s.connector.pk] for s in result.connectors)
            for result in results
        },
        # {charge point pk: "Under maintenance until 14:30"}
        "maintenance": maintenance.notices(
            {state.connector.charge_point for result in results for state in result.connectors}
        ),
    }
    return render(request, "portal/station_list.html", context)


def _station_context(request: HttpRequest, site: Site, **extra: Any) -> dict[str, Any]:
    connectors = finder.public_connectors(site_id=site.pk)
    results = finder.group_by_site(connectors)
    states = results[0].connectors if results else []
    user = request.user if request.user.is_authenticated else None
    notices = maintenance.notices({state.connector.charge_point for state in states})
    # A tariff can be set per connector: each has its preview, all read at once.
    previews = tariffs.price_previews([state.connector for state in states], user)
    # Booked slots of the coming days: when a connector is taken, for everyone to see.
    now = timezone.now()
    booked = bookings.upcoming_slots([state.connector.pk for state in states], now)
    rows = [
        {
            "state": state,
            "connector": state.connector,
            "price": previews[state.connector.pk],
            "maintenance": notices.get(state.connector.charge_point_id),
            "booked": booked.get(state.connector.pk, []),
            # When charging is cheaper (the time-of-use periods): only where there are any.
            "cheaper": tariffs.cheaper_later(state.connector, user, now)
            if previews[state.connector.pk] and previews[state.connector.pk].time_of_use
            else None,
        }
        for state in states
    ]
    # The same prices at every connector (the usual station): shown once, above them.
    shown = [row["price"] for row in rows]
    shared_price = (
        shown[0] if len(shown) > 1 and shown[0] and shown.count(shown[0]) == len(shown) else None
    )
    opening_hours.prefetch([site])
    context: dict[str, Any] = {
        "site": site,
        # A site stopped in an emergency: why nobody may start or reserve here now.
        "out_of_service": emergency.site_refusal(site.pk),
        "rows": rows,
        "shared_price": shared_price,
        "shared_cheaper": rows[0]["cheaper"] if shared_price else None,
        "open_now": opening_hours.is_open(site, timezone.now()),
        "weekly_hours": opening_hours.weekly_hours(site),
        "status_labels": _status_labels(),
        "refusal": None,
        "start_error": None,
    }
    if user is not None:
        # How the driver may pay for a session here; money refuses a start only when
        # no method they may choose would do (billing/payment_choice.py).
        context["payment"] = payment_choice.options_for(user)
        context["refusal"] = context["payment"].refusal
        context["tokens"] = list(tokens.usable_tokens(user))
        # "Notify me when free": which connectors the driver already waits for.
        context["watched"] = events.watched_connector_ids(user, [s.connector for s in states])
        # The start form's connector chosen first: the first one a start can work at.
        context["start_connector"] = next(
            (state.connector.pk for state in states if state.startable), None
        )
        _add_reservations(rows, user, context["refusal"] or context["out_of_service"], extra)
        _add_book_forms(rows, user, context["refusal"] or context["out_of_service"], extra)
    context.update(extra)
    return context


def _add_reservations(
    rows: list[dict[str, Any]], user: User, refusal: str | None, extra: dict[str, Any]
) -> None:
    """Each connector's "Reserve" part (templates/portal/_reserve.html): held for the
    driver until when, else a form where it can be held. `extra` may carry the error of a
    reservation just refused at one connector (portal/reservation_views.py)."""
    held = {(r.charge_point_id, r.connector_id): r for r in reservations.held_by(user)}
    for row in rows:
        connector = row["connector"]
        row["held"] = held.get((connector.charge_point_id, connector.connector_id))
        # Only a free connector can be held, and only by a driver who may charge.
        offered = row["held"] is None and row["state"].available and not refusal
        row["reserve_form"] = (
            ReserveForm(
                user, initial={"connector": connector.pk}, auto_id=f"reserve-{connector.pk}-%s"
            )
            if offered
            else None
        )
        if extra.get("reserve_connector_id") == connector.pk:
            row["reserve_error"] = extra.get("reserve_error")


def _add_book_forms(
    rows: list[dict[str, Any]], user: User, refusal: str | None, extra: dict[str, Any]
) -> None:
    """Each connector's "Book a time" form (templates/portal/_book.html), unless nobody
    may start here or money stops the driver; `extra` may carry the error of a booking
    just refused at one connector (portal/booking_views.py)."""
    for row in rows:
        connector = row["connector"]
        form = BookForm(
            user, initial={"connector": connector.pk}, auto_id=f"book-{connector.pk}-%s"
        )
        row["book_form"] = None if refusal else form
        if extra.get("book_connector_id") == connector.pk:
            row["book_error"] = extra.get("book_error")


@login_not_required
@require_safe
def station_detail(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=site_id)
    return render(request, "portal/station_detail.html", _station_context(request, site))


@login_required
@require_POST
def start_charging(request: HttpRequest) -> HttpResponse:
    form = StartForm(request.user, request.POST)
    if not form.is_valid():
        connector = form.cleaned_data.get("connector")
        if connector is None or connector.charge_point.site is None:
            return render(
                request, "portal/error.html", {"message": _("Unknown connector.")}, status=400
            )
        if "payment" in form.errors:
            start_error = form.errors["payment"][0]
        elif "ready_by" in form.errors or "energy_kwh" in form.errors:
            start_error = next(iter(form.errors.values()))[0]
        else:
            start_error = _("Choose one of your tokens.")
        context = _station_context(request, connector.charge_point.site, start_error=start_error)
        return render(request, "portal/station_detail.html", context, status=400)
    connector = form.cleaned_data["connector"]
    try:
        token = start_stop.start(
            request.user,
            connector,
            form.cleaned_data["token"],
            form.cleaned_data["payment"],
            source=SOURCE,
            departure=form.departure(),
            energy_kwh=form.cleaned_data["energy_kwh"],
        )
    except refusals.Refused as refused:
        site = connector.charge_point.site
        if site is None:
            return render(
                request, "portal/error.html", {"message": str(refused)}, status=refused.status
            )
        context = _station_context(request, site, start_error=str(refused))
        return render(request, "portal/station_detail.html", context, status=refused.status)
    messages.success(
        request,
        _(
            "Charger %(charger)s, connector %(connector)s is ready for %(token)s: plug in your "
            "car. The session shows here once charging starts."
        )
        % {
            "charger": connector.charge_point.charge_point_id,
            "connector": connector.connector_id,
            "token": token.name or token.uid,
        },
    )
    return redirect("portal:charging")


@login_required
@require_safe
def my_charging(request: HttpRequest) -> HttpResponse:
    active = start_stop.sessions_of(request.user).filter(status=ChargingSession.Status.ACTIVE)
    return render(request, "portal/charging.html", {"sessions": active})


def _own_session(request: HttpRequest, session_id: int) -> ChargingSession:
    return get_object_or_404(start_stop.sessions_of(request.user), pk=session_id)


def _figures_json(session: ChargingSession) -> dict[str, Any]:
    now = figures(session)
    cost = now.cost
    return {
        "status": session.status,
        "energy_kwh": formats.number_format(now.energy_kwh, 2, use_l10n=True),
        "duration": format_duration(now.duration),
        "cost": money.format_money(cost.gross, cost.currency) if cost else "",
        "power_kw": _decimal(now.power_kw, 1),
        "soc_percent": _decimal(now.soc_percent, 0),
    }


def _decimal(value: Decimal | int | None, places: int) -> str:
    return "" if value is None else formats.number_format(value, places, use_l10n=True)


def _session_page_context(session: ChargingSession, **extra: Any) -> dict[str, Any]:
    # The page formats pushed amounts as billing.money does: it needs the same signs.
    return {
        "session": session,
        "figures": _figures_json(session),
        "currency_signs": money.CURRENCY_SIGNS,
        **extra,
    }


def _receipt(user: User, session: ChargingSession) -> Invoice | None:
    """The receipt (or monthly invoice) a finished session was billed on, when the driver
    may see it: a fleet's invoice is the fleet's (billing/documents.py)."""
    charge = getattr(session, "charge", None)
    if charge is None or charge.document_id is None:
        return None
    return documents.visible_to(user).filter(pk=charge.document_id).first()


@login_required
@require_safe
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _own_session(request, session_id)
    context = _session_page_context(session, receipt=_receipt(request.user, session))
    response = render(request, "portal/session_detail.html", context)
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
@require_safe
def session_figures(request: HttpRequest, session_id: int) -> JsonResponse:
    """A session's figures as shown on its page, for a client that has no live socket.

    The page itself gets them pushed (portal/live_figures.py) and asks here only
    once after its socket reconnects, for what it missed.
    """
    response = JsonResponse(_figures_json(_own_session(request, session_id)))
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
@require_POST
def stop_charging(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _own_session(request, session_id)
    try:
        start_stop.stop(request.user, session, source=SOURCE)
    except refusals.Refused as refused:
        context = _session_page_context(session, error=str(refused))
        return render(request, "portal/session_detail.html", context, status=refused.status)
    messages.success(request, _("The charger was asked to stop. The session ends in a moment."))
    return redirect("portal:session", session_id=session.pk)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None, instance=IdToken(owner=request.user))
    if request.method == "POST":
        if form.is_valid():
            token = form.save()
            messages.success(request, _("Card %(uid)s added.") % {"uid": token.uid})
            return redirect("portal:account")
    user = request.user
    context = {
        "token_form": form,
        "sessions": start_stop.sessions_of(user)[:HISTORY_LENGTH],
        # Staff may view every document; their own account page lists their own.
        "invoices": documents.visible_to(user).filter(account__user=user),
        "booking_fees": no_show.fees_of(user)[:HISTORY_LENGTH],
        "balance": wallet.wallet_balance(user),
        "wallet_entries": WalletEntry.objects.filter(user=user).order_by("-created_at", "-id")[
            :HISTORY_LENGTH
        ],
        "tokens": IdToken.objects.filter(owner=user).order_by("type", "uid"),
    }
    response = render(request, "portal/account.html", context, status=400 if form.errors else 200)
    patch_cache_control(response, private=True, no_store=True)
    return response


def _set_token_status(request: HttpRequest, token_id: int, status: str) -> HttpResponse:
    token = get_object_or_404(IdToken, pk=token_id, owner=request.user)
    token.status = status
    token.save(update_fields=["status"])
    if status == IdToken.Status.BLOCKED:
        message = _("Card %(uid)s is blocked: chargers will refuse it.")
    else:
        message = _("Card %(uid)s can charge again.")
    messages.success(request, message % {"uid": token.uid})
    return redirect("portal:account")


@login_required
@require_POST
def rename_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(IdToken, pk=token_id, owner=request.user)
    form = TokenNameForm(request.POST, instance=token)
    if not form.is_valid():
        message = "; ".join(error for errors in form.errors.values() for error in errors)
        return render(request, "portal/error.html", {"message": message}, status=400)
    form.save()
    messages.success(request, _("Card %(uid)s renamed.") % {"uid": token.uid})
    return redirect("portal:account")


@login_required
@require_POST
def block_token(request: HttpRequest, token_id: int) -> HttpResponse:
    return _set_token_status(request, token_id, IdToken.Status.BLOCKED)


@login_required
@require_POST
def unblock_token(request: HttpRequest, token_id: int) -> HttpResponse:
    return _set_token_status(request, token_id, IdToken.Status.ACCEPTED)


@login_required
@require_safe
def sessions_csv(request: HttpRequest) -> HttpResponse:
    """Every session of the driver, for a spreadsheet (times in the site's display zone)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="charging-sessions.csv"'
    patch_cache_control(response, private=True, no_store=True)
    writer = csv.writer(response)
    writer.writerow(
        [
            _("Session"),
            _("Started"),
            _("Stopped"),
            _("Site"),
            _("Charger"),
            _("Connector"),
            _("Id tag"),
            _("kWh"),
            _("Cost"),
            _("Currency"),
            _("Status"),
        ]
    )
    for session in start_stop.sessions_of(request.user).iterator(chunk_size=500):
        charge = getattr(session, "charge", None)
        site = session.charge_point.site
        writer.writerow(
            [
                session.pk,
                timezone.localtime(session.started_at).isoformat(timespec="seconds"),
                timezone.localtime(session.stopped_at).isoformat(timespec="seconds")
                if session.stopped_at
                else "",
                text_cell(site.name) if site else "",
                text_cell(session.charge_point.charge_point_id),
                session.connector.connector_id,
                text_cell(session.id_tag),
                f"{Decimal(session.energy_wh) / 1000:.3f}" if session.energy_wh is not None else "",
                f"{charge.gross:.2f}" if charge else "",
                charge.currency if charge else "",
                session.get_status_display(),
            ]
        )
    return response
