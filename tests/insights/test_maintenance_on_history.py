"""Predictive maintenance on the generated history in the database (insights/history.py
with worn chargers): the figures read as the daily task reads them
(insights/maintenance_data.py), scored by insights/maintenance.py, flag the chargers
before they fail. The precision and recall stated in README "Insights" come from this."""

from datetime import UTC, datetime

import pytest

from insights import degradation, history, maintenance_data
from insights.models import ChargerRisk

pytestmark = pytest.mark.django_db

END = datetime(2026, 6, 1, tzinfo=UTC)
# 12 chargers (8 AC, 4 DC) over 100 days; 5 wear out and fail in the last three weeks,
# after the 63 days of the first full baseline.
SIZE = history.HistorySize(
    sites=2, chargers_per_site=6, days=100, drivers=100, samples_per_session=3, worn=5
)


def test_worn_chargers_are_flagged_before_they_fail() -> None:
    generated = history.generate(seed=1, size=SIZE, end=END)
    assert len(generated.failures) == 5

    measured = degradation.measure(
        history.worn_fleet(generated), days=SIZE.days, start=generated.start.date()
    )

    # Floors as for the plain-data fleets (tests/insights/test_maintenance.py).
    assert measured.failures == 5
    assert measured.precision >= 0.75, measured
    assert measured.recall >= 0.7, measured
    # The daily task on a failure's eve: that charger is flagged, with its evidence.
    charge_point, fails_at = min(generated.failures.items(), key=lambda item: item[1])
    maintenance_data.assess_all(fails_at.date())
    risk = ChargerRisk.objects.get(charge_point=charge_point)
    assert risk.flagged and risk.evidence
    healthy = ChargerRisk.objects.exclude(charge_point__in=list(generated.failures))
    assert not healthy.filter(flagged=True).exists()
