"""The demand forecast's database side: read each site's hourly occupancy from the
summary (ConnectorHour), train (insights/forecast.py), store the predictions, the
backtest and the station page's hint.

`retrain()` is the weekly beat task's (insights/tasks.py); pages read SiteForecast and
HourForecast only. A site's rows are replaced in one transaction, so a page never sees
half a forecast.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from insights import forecast
from insights.models import ConnectorHour, HourForecast, SiteForecast
from stations.models import Site

# Half a year of history: enough weeks for the lags and the backtest, little enough to
# follow a site that changed (new chargers, a new neighbour).
HISTORY_WEEKS = 26
HELD_BACK_WEEKS = 2


def occupancy(
    site_ids: list[int], start: datetime, end: datetime
) -> dict[int, dict[datetime, float]]:
    """Connectors busy on average per site and UTC hour in [start, end): the summary's
    occupied time (ConnectorHour, insights/rollup.py) added up over the site's connectors."""
    busy: dict[int, dict[datetime, float]] = defaultdict(dict)
    hours = (
        ConnectorHour.objects.filter(site_id__in=site_ids, hour__gte=start, hour__lt=end)
        .values("site_id", "hour")
        .annotate(seconds=Sum("occupied_seconds"))
    )
    for row in hours:
        busy[row["site_id"]][row["hour"]] = row["seconds"] / 3600
    return dict(busy)


def retrain(now: datetime | None = None) -> int:
    """Train and store the forecast of every site with connectors; the sites done."""
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(weeks=HISTORY_WEEKS)
    sites = list(
        Site.objects.annotate(connector_count=Count("charge_points__connectors")).filter(
            connector_count__gt=0
        )
    )
    histories = occupancy([site.pk for site in sites], start, end)
    for site in sites:
        history = histories.get(site.pk, {})
        store(site, history, end, site.connector_count)
    return len(sites)


def store(
    site: Site, history: dict[datetime, float], now: datetime, connectors: int
) -> SiteForecast:
    """Train on `history`, and replace the site's stored forecast with the result."""
    predictions = forecast.forecast(history, now, connectors, site.time_zone)
    scored = forecast.backtest(history, now, connectors, HELD_BACK_WEEKS, site.time_zone)
    full = forecast.full_hours(predictions, connectors)
    hint = forecast.hint(predictions, connectors, site.time_zone)
    with transaction.atomic():
        HourForecast.objects.filter(site=site).delete()
        HourForecast.objects.bulk_create(
            HourForecast(site=site, hour=p.hour, occupancy=round(p.occupancy, 3))
            for p in predictions
        )
        row, _created = SiteForecast.objects.update_or_create(
            site=site,
            defaults={
                "trained_at": now,
                "connectors": connectors,
                "history_hours": int((now - min(history)) / forecast.HOUR) if history else 0,
                "weeks_held_back": scored.weeks if scored else 0,
                "model_error": scored.model_mae if scored else None,
                "baseline_error": scored.baseline_mae if scored else None,
                "full_hours": len(full),
                "first_full_at": full[0] if full else None,
                "busy_from": hint.busy_from,
                "busy_to": hint.busy_to,
                "quiet_at": hint.quiet_at,
            },
        )
    return row
