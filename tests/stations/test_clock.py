"""Whether a charger's clock is believed (stations/clock.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from stations.clock import trusted_time

RECEIVED = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def limits(settings):
    settings.OCPP_CLOCK_SKEW_TOLERANCE = 300
    settings.OCPP_MAX_QUEUED_MESSAGE_AGE = 30 * 24 * 3600


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(timedelta(0), id="now"),
        pytest.param(timedelta(seconds=300), id="future-at-tolerance"),
        pytest.param(timedelta(hours=-5), id="queued-hours-ago"),
        pytest.param(timedelta(days=-30), id="queued-at-max-age"),
    ],
)
def test_charger_time_within_limits_is_believed(offset):
    assert trusted_time(RECEIVED + offset, RECEIVED) == (RECEIVED + offset, False)


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(timedelta(seconds=301), id="future-beyond-tolerance"),
        pytest.param(timedelta(days=365), id="a-year-ahead"),
        pytest.param(timedelta(days=-30, seconds=-1), id="older-than-max-queue-age"),
        pytest.param(datetime(1970, 1, 1, tzinfo=UTC) - RECEIVED, id="flat-rtc-battery-1970"),
    ],
)
def test_charger_time_beyond_limits_is_replaced_by_receive_time_and_flagged(offset):
    assert trusted_time(RECEIVED + offset, RECEIVED) == (RECEIVED, True)


def test_tolerance_comes_from_settings(settings):
    settings.OCPP_CLOCK_SKEW_TOLERANCE = 10
    assert trusted_time(RECEIVED + timedelta(seconds=11), RECEIVED) == (RECEIVED, True)
