"""Admin pages for the decisions: the demand forecast (on SiteForecast's place), the
predictive-maintenance ranking with its "create inspection ticket" action (ChargerRisk)
and site planning on a map (on CandidateLocation's place: staff add candidates there).

The pages read the stored tables only (filled by insights/tasks.py); who sees which is
the model's view permission (users/roles.py: technicians see maintenance).
"""

import csv
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chargehub.admin_fields import ReadOnlyAdmin
from chargehub.spreadsheet import text_cell
from insights import maintenance_data, planning_data
from insights.models import CandidateLocation, ChargerRisk, HourForecast, SiteForecast

# Site planning looks at the last weeks: long enough for a pattern, recent enough to act on.
PLANNING_DAYS = 28


class ReportAdmin(ReadOnlyAdmin):
    """A model whose list is a report: computed rows, never added or edited by hand."""

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "is_nav_sidebar_enabled": False,
        }


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([text_cell(v) if isinstance(v, str) else v for v in row])
    return response


@admin.register(SiteForecast)
class SiteForecastAdmin(ReportAdmin):
    """Expected occupancy per site for the next 7 days, the model's error against
    seasonal-naive, and the sites expected to be full."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("csv/", view(self.csv_view), name="insights_siteforecast_csv"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        context = self._context(request, _("Demand forecast"))
        forecasts = list(SiteForecast.objects.select_related("site"))
        chosen = next(
            (f for f in forecasts if str(f.site_id) == request.GET.get("site")),
            forecasts[0] if forecasts else None,
        )
        hours = (
            list(HourForecast.objects.filter(site=chosen.site_id).order_by("hour"))
            if chosen
            else []
        )
        zone = ZoneInfo(chosen.site.time_zone if chosen else "UTC")
        context.update(
            forecasts=forecasts,
            chosen=chosen,
            not_beating=[f for f in forecasts if f.beats_baseline is False],
            chart={
                "label": _("Expected busy connectors"),
                # The site's own clock: "Mon 17:00" is when its drivers arrive.
                "labels": [h.hour.astimezone(zone).strftime("%a %H:00") for h in hours],
                "values": [round(h.occupancy, 2) for h in hours],
                "connectors": chosen.connectors if chosen else 0,
            },
        )
        return render(request, "admin/insights/forecast.html", context)

    def csv_view(self, request: HttpRequest) -> HttpResponse:
        self._context(request, "")
        rows = [
            [f.site.name, h.hour.isoformat(), round(h.occupancy, 3), f.connectors]
            for f in SiteForecast.objects.select_related("site")
            for h in HourForecast.objects.filter(site=f.site_id).order_by("hour")
        ]
        return _csv(
            "demand-forecast.csv",
            [_("Site"), _("Hour (UTC)"), _("Expected busy connectors"), _("Connectors")],
            rows,
        )


@admin.register(ChargerRisk)
class ChargerRiskAdmin(ReportAdmin):
    """Chargers ranked by predictive-maintenance risk, with the evidence."""

    list_display = [
        "charge_point",
        "charger_model",
        "score",
        "flagged",
        "evidence_text",
        "assessed_on",
    ]
    list_filter = ["flagged", "charge_point__model", "charge_point__site"]
    search_fields = ["charge_point__charge_point_id"]
    list_select_related = ["charge_point"]
    actions = ["create_inspection_ticket"]

    @admin.display(description=gettext_lazy("model"), ordering="charge_point__model")
    def charger_model(self, risk: ChargerRisk) -> str:
        return risk.charge_point.model

    @admin.display(description=gettext_lazy("evidence"))
    def evidence_text(self, risk: ChargerRisk) -> str:
        return maintenance_data.describe(risk.evidence)

    def has_open_inspection_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("insights.open_inspection")

    @admin.action(
        description=gettext_lazy("Create inspection ticket"), permissions=["open_inspection"]
    )
    def create_inspection_ticket(
        self, request: HttpRequest, queryset: QuerySet[ChargerRisk]
    ) -> None:
        opened = joined = 0
        for risk in queryset.select_related("charge_point__site"):
            _ticket, created = maintenance_data.open_inspection(risk)
            opened += created
            joined += not created
        messages.success(
            request,
            _("Inspection tickets: %(opened)d opened, %(joined)d already open.")
            % {"opened": opened, "joined": joined},
        )


@admin.register(CandidateLocation)
class CandidateLocationAdmin(admin.ModelAdmin):
    """Site planning: the list is the map and the two rankings; staff add candidates."""

    fields = ["name", "latitude", "longitude", "expected_traffic", "note"]

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("csv/<str:table>/", view(self.csv_view), name="insights_candidatelocation_csv"),
            *super().get_urls(),
        ]

    def _plan(self, request: HttpRequest) -> tuple[Any, Any]:
        if not self.has_view_permission(request):
            raise PermissionDenied
        end = timezone.now()
        start = end - timedelta(days=PLANNING_DAYS)
        return planning_data.plan(start, end)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        sites, candidates = self._plan(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Site planning"),
            "is_nav_sidebar_enabled": False,
            "days": PLANNING_DAYS,
            "sites": sites,
            "candidates": candidates,
            "can_add": self.has_add_permission(request),
            "markers": {
                "sites": [
                    {"name": s.name, "lat": s.point[0], "lon": s.point[1], "unmet": s.unmet}
                    for s in sites
                ],
                "candidates": [
                    {
                        "name": c.name,
                        "lat": c.point[0],
                        "lon": c.point[1],
                        "score": c.score,
                        "url": reverse("admin:insights_candidatelocation_change", args=[c.key]),
                    }
                    for c in candidates
                ],
            },
        }
        return render(request, "admin/insights/planning.html", context)

    def csv_view(self, request: HttpRequest, table: str) -> HttpResponse:
        sites, candidates = self._plan(request)
        if table == "sites":
            return _csv(
                "planning-sites.csv",
                [
                    _("Site"),
                    _("Hours full"),
                    _("Turned away"),
                    _("Searches with nothing free"),
                    _("Unmet demand"),
                ],
                [[s.name, s.full_hours, s.turned_away, s.empty_searches, s.unmet] for s in sites],
            )
        if table == "candidates":
            return _csv(
                "planning-candidates.csv",
                [
                    _("Candidate"),
                    _("Latitude"),
                    _("Longitude"),
                    _("Unmet demand nearby"),
                    _("Nearest site (km)"),
                    _("Score"),
                ],
                [
                    [c.name, c.point[0], c.point[1], c.unmet_nearby, c.nearest_site_km, c.score]
                    for c in candidates
                ],
            )
        raise Http404
