"""The demand forecast on generated history (insights/history.py): trained by the weekly
task, it beats seasonal-naive on the held-back weeks, and the station page shows its
hint. The figures stated in README "Insights" come from this history."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from insights import history, rollup, tasks
from insights.models import HourForecast, SiteForecast

pytestmark = pytest.mark.django_db

END = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
# Sixteen weeks: four for the lags, ten to learn from, two held back.
SIZE = history.HistorySize(sites=2, chargers_per_site=2, days=112, samples_per_session=1)
# The model's error on the held-back weeks is at most this share of seasonal-naive's.
STATED_RATIO = 0.9


def test_weekly_retrain_beats_seasonal_naive_on_generated_history(client) -> None:
    generated = history.generate(seed=3, size=SIZE, end=END)
    rollup.rebuild()  # the summary the forecast reads (beat keeps it current)
    assert tasks.retrain_forecasts(now=END.isoformat()) == 2
    forecasts = list(SiteForecast.objects.select_related("site"))
    assert len(forecasts) == 2
    for forecast in forecasts:
        assert forecast.weeks_held_back == 2
        assert forecast.beats_baseline, forecast.__dict__
        assert forecast.model_error <= STATED_RATIO * forecast.baseline_error, forecast.__dict__
    assert HourForecast.objects.count() == 2 * 168
    assert HourForecast.objects.order_by("hour").first().hour == END
    # The generated evenings are the peak (insights/history.py): the hint says so.
    for forecast in forecasts:
        assert 15 <= forecast.busy_from < forecast.busy_to <= 21, forecast.__dict__
        page = client.get(reverse("portal:station", args=[forecast.site_id])).content.decode()
        assert f"Usually busy {forecast.busy_from:02d}\u2013{forecast.busy_to:02d}" in page
    assert {f.site for f in forecasts} == set(generated.sites)
