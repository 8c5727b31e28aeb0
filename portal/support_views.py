"""The driver's support pages: report a problem, the list of their cases, one case's
thread. The rules (what a report may name, the ticket it joins) are in
operations/support.py; another driver's case or session is a 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from charging.refusals import Refused
from operations import support
from portal.support_forms import MessageForm, ReportForm
from stations.models import ChargingSession, Connector, Site


def _id(value: str | None) -> int | None:
    """An id from the query string; anything but a positive number is not found."""
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise Http404
    return int(value)


def _private(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, private=True, no_store=True)
    return response


@login_required
@require_safe
def my_cases(request: HttpRequest) -> HttpResponse:
    cases = support.cases_of(request.user)
    return _private(render(request, "portal/support_list.html", {"cases": cases}))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def report_problem(request: HttpRequest) -> HttpResponse:
    """?session=<id> from a session's page, ?site=<id> (and &connector=<id>) from a
    station's page; the form posts back to the same address."""
    session: ChargingSession | None = None
    site: Site | None = None
    try:
        if (session_id := _id(request.GET.get("session"))) is not None:
            session = support.own_session(request.user, session_id)
    except Refused as refused:
        raise Http404(str(refused)) from refused
    if session is not None:
        site = session.charge_point.site
    elif (site_id := _id(request.GET.get("site"))) is not None:
        site = get_object_or_404(Site, pk=site_id)
    initial = {"connector": _id(request.GET.get("connector"))}
    form = ReportForm(request.POST or None, initial=initial, site=site, session=session)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            connector: Connector | None = form.cleaned_data.get("connector")
            try:
                case = support.report(
                    request.user,
                    category=form.cleaned_data["category"],
                    message=form.cleaned_data["message"],
                    connector=connector,
                    session=session,
                    site=site,
                )
            except Refused as refused:
                form.add_error(None, str(refused))
                status = refused.status
            else:
                messages.success(
                    request,
                    _("Thank you: your report is case #%(case)s. We answer here and by email.")
                    % {"case": case.pk},
                )
                return redirect("portal:support-case", case_id=case.pk)
        else:
            status = 400
    context = {"form": form, "site": site, "session": session}
    return _private(render(request, "portal/support_report.html", context, status=status))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        case = support.own_case(request.user, case_id)
    except Refused as refused:
        raise Http404(str(refused)) from refused
    form = MessageForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                support.add_driver_message(case, form.cleaned_data["body"])
            except Refused as refused:
                form.add_error("body", str(refused))
                status = refused.status
            else:
                messages.success(request, _("Message sent."))
                return redirect("portal:support-case", case_id=case.pk)
        else:
            status = 400
    context = {"case": case, "form": form}
    return _private(render(request, "portal/support_case.html", context, status=status))
