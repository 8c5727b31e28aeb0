"""The station page's "usually busy 17-19, quieter at 14:00", from the stored forecast.

A template tag, so that the portal's page shows it without the portal importing insights
(nothing imports insights: it listens and others read what it stores).
"""

from typing import Any

from django import template

from insights.models import SiteForecast

register = template.Library()


@register.inclusion_tag("insights/_usual_busy.html")
def usual_busy(site: Any) -> dict[str, Any]:
    """The site's hint, or nothing while it has no forecast or is never busy."""
    forecast = (
        SiteForecast.objects.filter(site=site).only("busy_from", "busy_to", "quiet_at").first()
    )
    if forecast is None or forecast.busy_from is None:
        return {"hint": None}
    return {
        "hint": {
            "busy_from": f"{forecast.busy_from:02d}",
            "busy_to": f"{forecast.busy_to:02d}",
            "quiet_at": None if forecast.quiet_at is None else f"{forecast.quiet_at:02d}:00",
        }
    }
