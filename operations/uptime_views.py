"""The admin's uptime pages: the report (figures, charts, tables per site, charger, model
and month), the outage list and a CSV of every table.

Thin: the figures come from operations/figures.py (the summary table), the rule from
operations/uptime.py. Reached through UptimeMonthAdmin (operations/uptime_admin.py), so
they need `operations.view_uptimemonth` as any admin page of that model.
"""

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chargehub.spreadsheet import text_cell
from operations import figures, uptime
from operations.models import OutagePeriod
from stations.models import ChargePoint, Site

# The outage list shows this many; the CSV has them all.
OUTAGES_SHOWN = 200
# The report's charger table shows the chargers with the lowest uptime; the CSV all.
LOWEST_SHOWN = 50


class UptimeFilter(forms.Form):
    month = forms.CharField(
        label=gettext_lazy("Month"),
        required=False,
        widget=forms.TextInput(attrs={"type": "month"}),
    )
    site = forms.ModelChoiceField(
        label=gettext_lazy("Site"), queryset=Site.objects.all(), required=False
    )
    charge_point = forms.CharField(label=gettext_lazy("Charge point id"), required=False)

    def clean_month(self) -> date | None:
        text = self.cleaned_data["month"]
        if not text:
            return None
        month = uptime.parse_month(text)
        if month is None:
            raise forms.ValidationError(_("Give a month as YYYY-MM, e.g. 2026-03."))
        return month

    def clean_charge_point(self) -> ChargePoint | None:
        charge_point_id = self.cleaned_data["charge_point"].strip()
        if not charge_point_id:
            return None
        charge_point = ChargePoint.objects.filter(charge_point_id=charge_point_id).first()
        if charge_point is None:
            raise forms.ValidationError(_("No charge point has this id."))
        return charge_point


@dataclass
class Scope:
    """What a page shows: one month (and the 12 ending with it), all or one site or charger."""

    month: date
    site: Site | None
    charge_point: ChargePoint | None
    form: UptimeFilter

    @property
    def months(self) -> list[date]:
        return uptime.previous_months(self.month)

    @property
    def filters(self) -> dict[str, Any]:
        return {"site": self.site, "charge_point": self.charge_point}

    def query(self) -> str:
        params = {"month": f"{self.month:%Y-%m}"}
        if self.site:
            params["site"] = str(self.site.pk)
        if self.charge_point:
            params["charge_point"] = self.charge_point.charge_point_id
        return urlencode(params)


def scope_of(request: HttpRequest) -> Scope:
    """The page's scope from its query; what is not valid is left out (and shown as the
    form's error), so a bad link still shows the network this month."""
    form = UptimeFilter(request.GET)
    form.is_valid()
    data = form.cleaned_data  # the valid fields only
    return Scope(
        month=data.get("month") or uptime.current_month(),
        site=data.get("site"),
        charge_point=data.get("charge_point"),
        form=form,
    )


def format_duration(duration: timedelta | None) -> str:
    """'3 h 05 min', '2 d 4 h'; a dash when there is none."""
    if duration is None:
        return "—"
    minutes = round(duration.total_seconds() / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}


def report(request: HttpRequest, context: dict[str, Any]) -> TemplateResponse:
    scope = scope_of(request)
    found = figures.report(scope.month, **scope.filters)
    by_month, month_tables, causes = found.by_month, found.tables, found.causes
    chart = {
        "months": [row.label for row in by_month],
        "uptime": [float(row.uptime_percent) for row in by_month],
        "causes": [str(uptime.CAUSE_LABELS.get(c["cause"], c["cause"])) for c in causes],
        "outages": [c["outages"] for c in causes],
        "labels": {"uptime": _("Uptime (%)"), "outages": _("Outages begun")},
    }
    chargers = month_tables["charge_point"]
    tables = [
        (_("Sites"), "site", month_tables["site"]),
        (
            _("Chargers, the %(count)d lowest") % {"count": LOWEST_SHOWN}
            if len(chargers) > LOWEST_SHOWN
            else _("Chargers"),
            "charge_point",
            sorted(chargers, key=_share_down, reverse=True)[:LOWEST_SHOWN],
        ),
        (_("Models"), "model", month_tables["model"]),
        (_("Last 12 months"), "month", by_month),
    ]
    return TemplateResponse(
        request,
        "admin/operations/uptime/report.html",
        {
            **context,
            "title": _("Uptime %(month)s") % {"month": f"{scope.month:%Y-%m}"},
            "scope": scope,
            "totals": [
                (_("This month"), _shown(figures.added_up(month_tables["site"]))),
                (_("Last 12 months"), _shown(figures.added_up(by_month))),
            ],
            "tables": [
                (title, [_shown(row) for row in rows], _csv_url(group, scope))
                for title, group, rows in tables
            ],
            "causes": causes,
            "chart": chart,
            "computed_at": found.computed_at,
            "outages_url": reverse("admin:operations_uptimemonth_outages") + "?" + scope.query(),
            "ports_csv_url": _csv_url("connector", scope),
        },
    )


def _share_down(row: figures.Figures) -> float:
    """For sorting by uptime, lowest first, without the exact (Decimal) percentage."""
    return (row.outage - row.excluded) / row.measured if row.measured else 0.0


def _shown(row: figures.Figures) -> dict[str, Any]:
    return {
        "row": row,
        "uptime": row.uptime_percent if row.measured else None,
        "mttr": format_duration(row.mttr),
        "mtbf": format_duration(row.mtbf),
    }


def outages(request: HttpRequest, context: dict[str, Any]) -> TemplateResponse:
    scope = scope_of(request)
    rows = list(figures.outage_list([scope.month], **scope.filters)[:OUTAGES_SHOWN])
    return TemplateResponse(
        request,
        "admin/operations/uptime/outages.html",
        {
            **context,
            "title": _("Outages %(month)s") % {"month": f"{scope.month:%Y-%m}"},
            "scope": scope,
            "rows": [(row, _exclude_url(row)) for row in rows],
            "shown": OUTAGES_SHOWN,
            "csv_url": _csv_url("outages", scope),
            "report_url": reverse("admin:operations_uptimemonth_changelist") + "?" + scope.query(),
        },
    )


def _csv_url(table: str, scope: Scope) -> str:
    return reverse("admin:operations_uptimemonth_csv", args=[table]) + "?" + scope.query()


def _exclude_url(outage: OutagePeriod) -> str:
    """The form that marks this outage excluded, filled in with its port and times."""
    query = urlencode(
        {
            "connector": outage.connector_id,
            "starts_at": outage.starts_at.isoformat(),
            "ends_at": outage.ends_at.isoformat(),
        }
    )
    return reverse("admin:operations_outageexclusion_add") + "?" + query


# --- CSV ----------------------------------------------------------------------------------

CSV_TABLES = ("site", "charge_point", "model", "connector", "month", "outages")


def csv_export(request: HttpRequest, table: str) -> HttpResponse:
    """One table of the report as CSV: the month's (the last 12 months for `month`)."""
    if table not in CSV_TABLES:
        raise Http404
    scope = scope_of(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"uptime-{table.replace('_', '-')}-{scope.month:%Y-%m}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    patch_cache_control(response, private=True, no_store=True)
    writer = csv.writer(response)
    if table == "outages":
        _write_outages(writer, scope)
        return response
    months = scope.months if table == "month" else [scope.month]
    writer.writerow(
        [
            _("Month") if table == "month" else _("Name"),
            _("Ports"),
            _("Minutes measured"),
            _("Outage minutes"),
            _("Excluded minutes"),
            _("Uptime (%)"),
            _("Outages begun"),
            _("MTTR (minutes)"),
            _("MTBF (hours)"),
        ]
    )
    rows = (
        figures.months_table(months, **scope.filters)
        if table == "month"
        else figures.table(table, months, **scope.filters)
    )
    for row in rows:
        writer.writerow(
            [
                text_cell(row.label),
                row.ports,
                uptime.minutes(row.measured),
                row.outage_minutes,
                row.excluded_minutes,
                row.uptime_percent,
                row.failures,
                uptime.minutes(row.mttr) if row.mttr is not None else "",
                round(row.mtbf / timedelta(hours=1), 2) if row.mtbf is not None else "",
            ]
        )
    return response


def _write_outages(writer: Any, scope: Scope) -> None:
    writer.writerow(
        [
            _("Site"),
            _("Charger"),
            _("Connector"),
            _("From"),
            _("Until"),
            _("Minutes"),
            _("Excluded minutes"),
            _("Cause"),
            _("Continued from last month"),
        ]
    )
    for row in figures.outage_list([scope.month], **scope.filters).iterator(chunk_size=2000):
        cp = row.connector.charge_point
        writer.writerow(
            [
                text_cell(cp.site.name) if cp.site else "",
                text_cell(cp.charge_point_id),
                row.connector.connector_id,
                timezone.localtime(row.starts_at).isoformat(timespec="seconds"),
                timezone.localtime(row.ends_at).isoformat(timespec="seconds"),
                uptime.minutes(row.duration),
                uptime.minutes(row.excluded),
                row.cause,
                _("yes") if row.continued else _("no"),
            ]
        )
