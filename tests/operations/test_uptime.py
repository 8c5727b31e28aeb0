"""Uptime (23 CFR 680.116(b)) against tables computed by hand.

May 2026 in Stockholm has 31 x 24 x 60 = 44,640 minutes; March 2026 (summer time from
29 March) 743 h = 44,580; October 2026 (back on 25 October) 745 h = 44,700.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from operations import uptime
from operations.models import MaintenanceWindow, OutageExclusion
from tests.operations.uptime_history import (
    STOCKHOLM,
    charger,
    commissioned,
    local,
    status,
    went,
)

MAY = date(2026, 5, 1)
MAY_MINUTES = Decimal(44640)
AFTER = datetime(2027, 1, 1, tzinfo=UTC)  # "now": every month here is over


def figures(cp, month=MAY, now=AFTER):
    """{port number: (minutes, outage minutes, excluded minutes, uptime %)}."""
    return {
        p.connector.connector_id: (
            p.minutes,
            p.outage_minutes,
            p.excluded_minutes,
            p.uptime_percent,
        )
        for p in uptime.month_uptime([cp], month, now=now)
    }


# --- Pure arithmetic -----------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_union_merges_overlapping_and_touching_intervals_and_drops_empty_ones():
    assert uptime.union([(at(5), at(10)), (at(0), at(3)), (at(3), at(4)), (at(8), at(12))]) == [
        (at(0), at(4)),
        (at(5), at(12)),
    ]
    assert uptime.union([(at(2), at(2))]) == []


def test_intersection_is_the_time_in_both():
    a = [(at(0), at(10)), (at(20), at(30))]
    b = [(at(5), at(25))]
    assert uptime.intersection(a, b) == [(at(5), at(10)), (at(20), at(25))]
    assert uptime.intersection(a, [(at(10), at(20))]) == []


def test_uptime_percent_is_rounded_down_so_a_threshold_missed_by_a_fraction_shows():
    period = timedelta(minutes=10_000)
    # 96.999 %: shown as 96.99, never 97.00.
    assert uptime.percent(period, timedelta(minutes=300.1)) == Decimal("96.99")
    assert uptime.percent(period, timedelta()) == Decimal("100.00")
    assert uptime.minutes(timedelta(seconds=30)) == Decimal("0.50")
    assert uptime.minutes(timedelta(seconds=1)) == Decimal("0.02")  # 0.0166… half up


def test_months_are_local_and_a_dst_month_has_an_hour_less_or_more():
    march = uptime.month_bounds(date(2026, 3, 1), STOCKHOLM)
    october = uptime.month_bounds(date(2026, 10, 1), STOCKHOLM)
    may = uptime.month_bounds(MAY, STOCKHOLM)
    assert march[0] == datetime(2026, 2, 28, 23, tzinfo=UTC)  # 00:00 CET
    assert march[1] - march[0] == timedelta(hours=743)
    assert october[1] - october[0] == timedelta(hours=745)
    assert may[1] - may[0] == timedelta(hours=744)


def test_previous_months_end_with_the_month_asked():
    months = uptime.previous_months(date(2026, 3, 1))
    assert months[0] == date(2025, 4, 1) and months[-1] == date(2026, 3, 1)
    assert len(months) == 12


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "2026-01-01", "", "x", "1999-12"])
def test_parse_month_refuses_what_is_not_a_month(text):
    assert uptime.parse_month(text) is None


def test_parse_month_reads_year_and_month():
    assert uptime.parse_month("2026-03") == date(2026, 3, 1)


# --- From the history in the database -------------------------------------------------------


@pytest.mark.django_db
def test_a_month_with_outages():
    cp = charger(ports=1)
    commissioned(cp, local(2026, 4, 20, 9, 0))
    status(cp, 1, local(2026, 5, 2, 8, 0), "Preparing")  # in use: up
    status(cp, 1, local(2026, 5, 2, 8, 1), "Charging")
    status(cp, 1, local(2026, 5, 2, 9, 0), "Finishing")
    status(cp, 1, local(2026, 5, 2, 9, 5), "Available")
    status(cp, 1, local(2026, 5, 10, 10, 0), "Faulted", "GroundFailure")  # 150 min
    status(cp, 1, local(2026, 5, 10, 11, 0), "Faulted", "GroundFailure")  # repeated
    status(cp, 1, local(2026, 5, 10, 12, 30), "Available")
    status(cp, 1, local(2026, 5, 20, 8, 0), "Unavailable")  # 60 min
    status(cp, 1, local(2026, 5, 20, 9, 0), "Charging")

    # (44640 - 210) / 44640 = 99.5295… → 99.52
    assert figures(cp) == {1: (MAY_MINUTES, Decimal(210), Decimal(0), Decimal("99.52"))}
    [port_may] = uptime.month_uptime([cp], MAY, now=AFTER)
    assert [(o.start, o.duration, o.cause) for o in port_may.outages] == [
        (local(2026, 5, 10, 10, 0), timedelta(minutes=150), "Faulted: GroundFailure"),
        (local(2026, 5, 20, 8, 0), timedelta(minutes=60), "Unavailable"),
    ]


@pytest.mark.django_db
def test_an_excluded_grid_outage_counts_only_where_it_overlaps_the_outage():
    cp = charger(ports=1)
    commissioned(cp, local(2026, 4, 20, 9, 0))
    status(cp, 1, local(2026, 5, 10, 10, 0), "Faulted", "PowerMeterFailure")
    status(cp, 1, local(2026, 5, 10, 12, 30), "Available")
    OutageExclusion.objects.create(
        site=cp.site,
        cause=OutageExclusion.Cause.GRID_OUTAGE,
        reason="Ellevio: substation fault",
        starts_at=local(2026, 5, 10, 11, 0),
        ends_at=local(2026, 5, 10, 14, 0),  # 90 of its 180 minutes overlap the outage
    )
    # (44640 - (150 - 90)) / 44640 = 99.8655… → 99.86
    assert figures(cp) == {1: (MAY_MINUTES, Decimal(150), Decimal(90), Decimal("99.86"))}


@pytest.mark.django_db
def test_a_maintenance_window_excludes_the_ports_taken_out_for_it():
    cp = charger(ports=2)
    commissioned(cp, local(2026, 4, 20, 9, 0))
    MaintenanceWindow.objects.create(
        charge_point=cp,
        starts_at=local(2026, 5, 15, 6, 0),
        ends_at=local(2026, 5, 15, 8, 0),
        reason="Cable replacement",
    )
    status(cp, 1, local(2026, 5, 15, 6, 5), "Unavailable")  # 105 min, all in the window
    status(cp, 1, local(2026, 5, 15, 7, 50), "Available")
    status(cp, 2, local(2026, 5, 15, 7, 30), "Unavailable")  # 60 min, 30 in the window
    status(cp, 2, local(2026, 5, 15, 8, 30), "Available")

    assert figures(cp) == {
        1: (MAY_MINUTES, Decimal(105), Decimal(105), Decimal("100.00")),
        # (44640 - 30) / 44640 = 99.9327… → 99.93
        2: (MAY_MINUTES, Decimal(60), Decimal(30), Decimal("99.93")),
    }


@pytest.mark.django_db
def test_overlapping_faults_on_two_ports_and_the_charger_count_once_per_port():
    cp = charger(ports=2)
    commissioned(cp, local(2026, 4, 20, 9, 0))
    status(cp, 1, local(2026, 5, 5, 10, 0), "Faulted", "ConnectorLockFailure")
    status(cp, 1, local(2026, 5, 5, 11, 0), "Available")
    status(cp, 0, local(2026, 5, 5, 10, 30), "Faulted", "InternalError")  # every port
    status(cp, 0, local(2026, 5, 5, 12, 0), "Available")
    went(cp, "disconnected", local(2026, 5, 5, 11, 30))  # overlaps both
    went(cp, "connected", local(2026, 5, 5, 13, 0))

    # Port 1: 10:00-13:00 = 180; port 2: 10:30-13:00 = 150.
    assert figures(cp) == {
        1: (MAY_MINUTES, Decimal(180), Decimal(0), Decimal("99.59")),  # 44460/44640
        2: (MAY_MINUTES, Decimal(150), Decimal(0), Decimal("99.66")),  # 44490/44640
    }
    ports = uptime.month_uptime([cp], MAY, now=AFTER)
    charger_total = uptime.Totals(ports)
    assert charger_total.outage_minutes == Decimal(330)
    # (89280 - 330) / 89280 = 99.6303… → 99.63
    assert charger_total.uptime_percent == Decimal("99.63")
    assert [o.cause for p in ports for o in p.outages] == [
        "Faulted: ConnectorLockFailure",
        "Faulted: InternalError",
    ]


@pytest.mark.django_db
def test_offline_periods_from_the_online_history_are_outages_of_every_port():
    cp = charger(ports=2)
    commissioned(cp, local(2026, 4, 20, 9, 0))
    went(cp, "disconnected", local(2026, 5, 3, 2, 0))
    went(cp, "connected", local(2026, 5, 3, 4, 0))
    went(cp, "disconnected", local(2026, 5, 31, 23, 0))  # still offline at the month's end

    # 120 + 60 = 180 per port: (44640 - 180) / 44640 = 99.5967… → 99.59
    expected = (MAY_MINUTES, Decimal(180), Decimal(0), Decimal("99.59"))
    assert figures(cp) == {1: expected, 2: expected}
    # June starts offline until a connected that never came: the whole of June so far.
    june = figures(cp, date(2026, 6, 1), now=local(2026, 6, 2, 0, 0))
    assert june[1] == (Decimal(1440), Decimal(1440), Decimal(0), Decimal("0.00"))


@pytest.mark.django_db
def test_dst_months_count_their_real_minutes():
    cp = charger(ports=1)
    commissioned(cp, local(2026, 1, 10, 9, 0))
    status(cp, 1, local(2026, 2, 28, 23, 0), "Faulted", "OtherError")  # 60 min into March
    status(cp, 1, local(2026, 3, 1, 1, 0), "Available")
    status(cp, 1, local(2026, 3, 29, 1, 30), "Faulted", "OtherError")  # 1:30 CET → 3:30 CEST
    status(cp, 1, local(2026, 3, 29, 3, 30), "Available")  # one real hour
    status(cp, 1, local(2026, 10, 25, 2, 30, fold=0), "Unavailable")  # first 2:30 (CEST)
    status(cp, 1, local(2026, 10, 25, 2, 30, fold=1), "Available")  # second 2:30 (CET)

    # March: 44580 min, outage 60 + 60: (44580 - 120) / 44580 = 99.7308… → 99.73
    assert figures(cp, date(2026, 3, 1)) == {
        1: (Decimal(44580), Decimal(120), Decimal(0), Decimal("99.73"))
    }
    # October: 44700 min, the repeated hour down: (44700 - 60) / 44700 = 99.8657… → 99.86
    assert figures(cp, date(2026, 10, 1)) == {
        1: (Decimal(44700), Decimal(60), Decimal(0), Decimal("99.86"))
    }


@pytest.mark.django_db
def test_a_port_is_measured_from_its_first_status_and_the_current_month_up_to_now():
    cp = charger(ports=1)
    commissioned(cp, local(2026, 5, 16, 0, 0))
    status(cp, 1, local(2026, 5, 20, 10, 0), "Faulted", "OtherError")
    status(cp, 1, local(2026, 5, 20, 10, 30), "Available")

    # 16 days = 23040 min: (23040 - 30) / 23040 = 99.8697… → 99.86
    assert figures(cp) == {1: (Decimal(23040), Decimal(30), Decimal(0), Decimal("99.86"))}
    # Seen on 21 May at 00:00: five days measured, down 30 min.
    assert figures(cp, now=local(2026, 5, 21, 0, 0)) == {
        1: (Decimal(7200), Decimal(30), Decimal(0), Decimal("99.58"))
    }
    assert figures(cp, date(2026, 4, 1)) == {}  # not there yet: no figure


@pytest.mark.django_db
def test_a_still_faulted_port_from_before_the_month_is_down_from_its_first_minute():
    cp = charger(ports=1)
    commissioned(cp, local(2026, 3, 1, 0, 0))
    status(cp, 1, local(2026, 4, 30, 22, 0), "Faulted", "HighTemperature")
    status(cp, 1, local(2026, 5, 1, 6, 0), "Available")

    assert figures(cp)[1][1] == Decimal(360)  # 00:00-06:00 local


@pytest.mark.django_db
def test_the_history_is_read_in_a_fixed_number_of_queries(django_assert_max_num_queries):
    chargers = [charger(f"CP-Q{n}", ports=2) for n in range(5)]
    for cp in chargers:
        commissioned(cp, local(2026, 4, 1, 0, 0))
        status(cp, 1, local(2026, 5, 3, 1, 0), "Faulted", "OtherError")
    with django_assert_max_num_queries(6):
        ports = uptime.months_uptime(chargers, uptime.previous_months(MAY), now=AFTER)
    assert len(ports[MAY]) == 10
