"""Operations on admin pages that belong to other apps: the network's counts on the admin
home, and a charger's timeline, open tickets and last words on its change page.

Template tags, so that stations/admin.py never imports operations: the templates
(templates/admin/index.html, templates/admin/stations/chargepoint/change_form.html) load
this library and the figures are computed here, by operations' rules.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django import template
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from operations import dashboard, timeline
from operations.models import Ticket
from stations.models import ChargePoint

register = template.Library()

# The bar's width in SVG user units (the SVG scales it to the page): a period's x and
# width are fractions of the window times this.
BAR_WIDTH = 1000


@register.inclusion_tag("admin/operations/_home.html", takes_context=True)
def network_summary(context: dict[str, Any]) -> dict[str, Any]:
    """The admin home's view of the network, for staff who may view charge points."""
    request = context["request"]
    if not request.user.has_perm("stations.view_chargepoint"):
        return {"network": None}
    return {"network": dashboard.network(), "columns": dashboard.COLUMNS}


@dataclass(frozen=True)
class Bar:
    """One period drawn: x and width as SVG numbers (never localised: "12,5" is no number)."""

    x: str
    width: str
    colour: str
    state: str
    label: str
    start: datetime
    end: datetime


def _bars(start: datetime, end: datetime, periods: list[timeline.Period]) -> list[Bar]:
    span = (end - start).total_seconds()
    return [
        Bar(
            x=f"{(p.start - start).total_seconds() / span * BAR_WIDTH:.2f}",
            width=f"{(p.end - p.start).total_seconds() / span * BAR_WIDTH:.2f}",
            colour=p.colour,
            state=p.state,
            label=p.label,
            start=p.start,
            end=p.end,
        )
        for p in periods
    ]


def _midnights(start: datetime, end: datetime) -> list[datetime]:
    """The local midnights between start and end: where the bar's days begin."""
    zone = timezone.get_current_timezone()
    day = timezone.localtime(start, zone).date() + timedelta(days=1)
    midnights = []
    while (midnight := datetime.combine(day, time.min, tzinfo=zone)) < end:
        midnights.append(midnight)
        day += timedelta(days=1)
    return midnights


def _ticket_url(ticket: Ticket) -> str | None:
    if not admin.site.is_registered(Ticket):
        return None
    try:
        return reverse("admin:operations_ticket_change", args=[ticket.pk])
    except NoReverseMatch:
        return None


@register.inclusion_tag("admin/operations/_charger.html")
def charger_operations(charge_point: ChargePoint) -> dict[str, Any]:
    """The charger's last 7 days per connector, its open tickets and its last words."""
    start, end, connectors = timeline.charger_timeline(charge_point)
    span = (end - start).total_seconds()
    # x in the bar's units (its day lines), and as a percentage for the labels below it,
    # which must not be stretched with the bar.
    days = [
        {
            "x": f"{fraction * BAR_WIDTH:.2f}",
            "percent": f"{fraction * 100:.2f}%",
            "day": midnight,
        }
        for midnight in _midnights(start, end)
        for fraction in [(midnight - start).total_seconds() / span]
    ]
    tickets = list(
        Ticket.objects.filter(charge_point=charge_point, status__in=Ticket.OPEN_STATUSES).order_by(
            "-opened_at"
        )
    )
    return {
        "charge_point": charge_point,
        "online": charge_point.is_online(),
        "start": start,
        "end": end,
        "bar_width": BAR_WIDTH,
        "days": days,
        "connectors": [
            {"connector_id": c.connector_id, "bars": _bars(start, end, c.periods)}
            for c in connectors
        ],
        "legend": timeline.LEGEND,
        "tickets": [(ticket, _ticket_url(ticket)) for ticket in tickets],
    }
