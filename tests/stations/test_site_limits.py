"""A site's limit now (stations/site_limits.py): static, time of day, dynamic."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from stations import site_limits
from stations.models import Site, SiteLimitPeriod

# 17:30 in Stockholm (UTC+1 in December).
EVENING = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)


def test_an_unmanaged_site_has_no_limit():
    assert site_limits.limit_now(Site(name="x"), EVENING, []) is None


def test_the_lowest_limit_in_force_applies_in_the_sites_local_time():
    site = Site(name="x", grid_limit_amps=Decimal(63), time_zone="Europe/Stockholm")
    evening = SiteLimitPeriod(starts=time(17), ends=time(20), amps=Decimal(40))
    assert site_limits.limit_now(site, EVENING, [evening]) == 40
    assert site_limits.limit_now(site, EVENING + timedelta(hours=3), [evening]) == 63
    site.dynamic_limit_amps = Decimal(32)
    site.dynamic_limit_until = EVENING + timedelta(minutes=10)
    assert site_limits.limit_now(site, EVENING, [evening]) == 32
    # Lapsed: the static and time-of-day limits again.
    assert site_limits.limit_now(site, EVENING + timedelta(minutes=10), [evening]) == 40


def test_a_period_to_midnight_runs_to_the_end_of_the_day():
    site = Site(name="x", grid_limit_amps=Decimal(63), time_zone="UTC")
    night = SiteLimitPeriod(starts=time(22), ends=time(0), amps=Decimal(50))
    assert site_limits.limit_now(site, datetime(2026, 12, 7, 23, 59, tzinfo=UTC), [night]) == 50
    assert site_limits.limit_now(site, datetime(2026, 12, 7, 21, 59, tzinfo=UTC), [night]) == 63


@pytest.mark.parametrize("amps", ["-1", "5001", "NaN", "Infinity", "forty", None, [1]])
def test_negative_absurd_or_no_numbers_are_refused(amps):
    with pytest.raises(ValidationError):
        site_limits.parse_amps(amps)


@pytest.mark.django_db
def test_a_dynamic_limit_needs_a_managed_site_and_a_future_end():
    site = Site.objects.create(name="Unmanaged")
    with pytest.raises(ValidationError):
        site_limits.set_dynamic_limit(site, Decimal(10), None)
    site = Site.objects.create(name="Managed", grid_limit_amps=Decimal(63))
    with pytest.raises(ValidationError):
        site_limits.set_dynamic_limit(site, Decimal(10), datetime(2020, 1, 1, tzinfo=UTC))
    site_limits.set_dynamic_limit(site, Decimal("40.04"), None)
    site.refresh_from_db()
    assert site.dynamic_limit_amps == Decimal("40.0") and site.dynamic_limit_until is None


def test_a_period_must_end_after_it_starts():
    with pytest.raises(ValidationError):
        SiteLimitPeriod(starts=time(20), ends=time(17), amps=Decimal(1)).clean()
