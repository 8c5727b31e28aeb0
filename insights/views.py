"""The insights dashboards in admin: utilisation (per site, charger and connector),
charging patterns, revenue, drivers.

Thin: the figures come from insights/figures.py (summary tables only); each page needs
its own permission (users/roles.py), and every table behind a chart is a CSV.
"""

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chargehub.admin_csv import cell
from insights import figures
from stations.models import Connector, Site

DEFAULT_DAYS = 28


@dataclass(frozen=True)
class Page:
    permission: str
    title: Any
    tables: tuple[Callable[[figures.Scope], figures.Table], ...]


PAGES: dict[str, Page] = {
    "utilisation": Page(
        "insights.view_utilisation",
        gettext_lazy("Utilisation"),
        (
            figures.utilisation_by_site,
            figures.busiest_and_idlest,
            figures.energy_and_sessions,
            figures.occupancy_heatmap,
            figures.turned_away,
            figures.turned_away_by_site,
        ),
    ),
    # The drill-down below the sites: the same figures per charger and per connector.
    "chargers": Page(
        "insights.view_utilisation",
        gettext_lazy("Chargers and connectors"),
        (figures.utilisation_by_charger, figures.utilisation_by_connector),
    ),
    "patterns": Page(
        "insights.view_utilisation",
        gettext_lazy("Charging patterns and speed"),
        (
            figures.session_shape,
            figures.session_lengths,
            figures.session_energies,
            figures.arrivals,
            figures.delivered_power,
            figures.slow_vehicles,
            figures.power_classes,
            figures.connector_types,
        ),
    ),
    "revenue": Page(
        "insights.view_revenue",
        gettext_lazy("Revenue"),
        (
            figures.revenue_by_site,
            figures.revenue_by_month,
            figures.revenue_by_method,
            figures.revenue_by_group,
            figures.revenue_by_group_and_month,
            lambda scope: figures.unpaid_and_overdue(),
        ),
    ),
    "drivers": Page(
        "insights.view_drivers",
        gettext_lazy("Drivers"),
        (figures.active_drivers, figures.retention, figures.driver_shares),
    ),
}


class ScopeForm(forms.Form):
    site = forms.ModelChoiceField(
        label=gettext_lazy("Site"), queryset=Site.objects.order_by("name"), required=False
    )
    start = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=gettext_lazy("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    connector_type = forms.ChoiceField(
        label=gettext_lazy("Connector type"),
        required=False,
        choices=[("", gettext_lazy("All")), *Connector.Type.choices],
    )
    per = forms.ChoiceField(
        label=gettext_lazy("Per"),
        required=False,
        choices=[
            ("day", gettext_lazy("day")),
            ("week", gettext_lazy("week")),
            ("month", gettext_lazy("month")),
        ],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The first day must come before the last."))
        if start and end and (end - start).days > 3 * 366:
            raise forms.ValidationError(_("Choose at most three years."))
        return data

    def scope(self) -> figures.Scope:
        """The filters chosen, or the last four weeks of the whole network."""
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        return figures.Scope(
            start=start,
            end=end,
            site=data.get("site"),
            connector_type=data.get("connector_type") or "",
            per=data.get("per") or "day",
        )


def allowed_pages(request: HttpRequest) -> list[tuple[str, Page]]:
    return [(name, page) for name, page in PAGES.items() if request.user.has_perm(page.permission)]


def _page(request: HttpRequest, name: str) -> Page:
    page = PAGES.get(name)
    if page is None:
        raise Http404
    if not request.user.has_perm(page.permission):
        raise PermissionDenied
    return page


def _chart(table: figures.Table) -> dict[str, Any]:
    return {
        "id": table.name,
        "type": table.chart,
        "labels": [str(row[0]) for row in table.rows],
        "series": [
            {
                "label": str(table.columns[index]),
                "data": [float(row[index] or 0) for row in table.rows],
            }
            for index in table.series
        ],
    }


def _heat_rows(table: figures.Table) -> list[tuple[Any, list[tuple[Any, int]]]]:
    """A heatmap's cells with their shade, 0-9 by tens of percent (CSS classes: the
    Content-Security-Policy allows no inline styles)."""
    return [
        (row[0], [(value, min(9, int(float(value or 0) // 10))) for value in row[1:]])
        for row in table.rows
    ]


def dashboard(request: HttpRequest, name: str, context: dict[str, Any]) -> TemplateResponse:
    page = _page(request, name)
    form = ScopeForm(request.GET or None)
    scope = form.scope()
    tables = [table(scope) for table in page.tables]
    query = request.GET.urlencode()
    return TemplateResponse(
        request,
        "admin/insights/dashboard.html",
        {
            **context,
            "title": page.title,
            "form": form,
            "scope": scope,
            "pages": [
                (
                    key,
                    other.title,
                    reverse("admin:insights_dashboard_page", args=[key]) + f"?{query}",
                )
                for key, other in allowed_pages(request)
            ],
            "current": name,
            "tables": [
                (
                    table,
                    reverse("admin:insights_dashboard_csv", args=[name, table.name]) + f"?{query}",
                    _heat_rows(table) if table.chart == "heatmap" else None,
                )
                for table in tables
            ],
            "charts": [_chart(table) for table in tables if table.chart in ("bar", "line")],
        },
    )


def table_csv(request: HttpRequest, name: str, table_name: str) -> HttpResponse:
    page = _page(request, name)
    scope = ScopeForm(request.GET or None).scope()
    for make in page.tables:
        table = make(scope)
        if table.name == table_name:
            break
    else:
        raise Http404
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"insights-{table.name}-{scope.start}-{scope.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([cell(column) for column in table.columns])
    for row in table.rows:
        writer.writerow([cell(value) for value in row])
    return response
