"""billing/pricing.py: the price of a session, checked against tables computed by hand.

Every expected figure has its arithmetic next to it. Tariff prices are net (excl. VAT),
VAT 25 % unless stated. Rounding: each line's net to öre half up, VAT once on the sum.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.pricing import (
    LineKind,
    Price,
    SessionUsage,
    TariffTerms,
    TimeOfUse,
    idle_fee_from,
    local_boundary,
    price_session,
    time_of_use_at,
)
from stations.sessions import energy_steps

STOCKHOLM = ZoneInfo("Europe/Stockholm")
EVERY_DAY = frozenset(range(1, 8))


def D(value: str | int) -> Decimal:
    return Decimal(value)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def steady(start: datetime, end: datetime, watts: int, every: timedelta = timedelta(hours=1)):
    """Meter readings (Wh) of a car drawing `watts` all along, one per `every`."""
    readings = []
    moment = start
    while moment <= end:
        readings.append((moment, D(watts) * D((moment - start) // timedelta(seconds=1)) / 3600))
        moment += every
    return readings


def usage(start, end, readings, power=(), running=False) -> SessionUsage:
    """A session whose meter took `readings` (time, Wh), counted by the sessions rule."""
    return SessionUsage(
        started_at=start,
        ended_at=end,
        energy=energy_steps(readings),
        power_samples=power,
        time_zone="Europe/Stockholm",
        running=running,
    )


def table(price: Price) -> list[tuple]:
    """(kind, period, quantity, unit price, net, vat, gross) per line."""
    return [
        (line.kind, line.period, line.quantity, line.unit_price, line.net, line.vat, line.gross)
        for line in price.lines
    ]


def totals(price: Price) -> tuple[Decimal, Decimal, Decimal]:
    return price.net, price.vat, price.gross


def test_price_per_kwh_is_energy_times_price_rounded_once():
    terms = TariffTerms(price_per_kwh=D("2.40"))
    readings = [
        (utc(2025, 5, 6, 10), D(1_000_000)),
        (utc(2025, 5, 6, 10, 30), D(1_005_000)),
        (utc(2025, 5, 6, 11), D(1_012_345)),
    ]
    price = price_session(usage(utc(2025, 5, 6, 10), utc(2025, 5, 6, 11), readings), terms)
    # 12.345 kWh x 2.40 = 29.628 -> 29.63; VAT 29.63 x 25 % = 7.4075 -> 7.41; gross 37.04
    assert table(price) == [
        (LineKind.ENERGY, "", D("12.345"), D("2.40"), D("29.63"), D("7.41"), D("37.04"))
    ]
    assert totals(price) == (D("29.63"), D("7.41"), D("37.04"))
    assert price.currency == "SEK"
    assert price.vat_rate == 25
    assert price.is_final


def test_price_per_minute_of_charging():
    terms = TariffTerms(price_per_minute=D("0.35"))
    start, end = utc(2025, 5, 6, 10), utc(2025, 5, 6, 11, 23, 30)
    price = price_session(usage(start, end, [(start, D(0)), (end, D(20_000))]), terms)
    # 83.5 min x 0.35 = 29.225 -> 29.23 (half up); VAT 7.3075 -> 7.31; gross 36.54
    assert table(price) == [
        (LineKind.TIME, "", D("83.500"), D("0.35"), D("29.23"), D("7.31"), D("36.54"))
    ]


def test_session_fee_is_added_once():
    terms = TariffTerms(price_per_kwh=D("2.00"), session_fee=D("5.00"))
    start, end = utc(2025, 5, 6, 10), utc(2025, 5, 6, 11)
    price = price_session(usage(start, end, [(start, D(0)), (end, D(10_000))]), terms)
    # 10 kWh x 2.00 = 20.00 (VAT 5.00); fee 5.00 (VAT 1.25); net 25.00, VAT 6.25, gross 31.25
    assert table(price) == [
        (LineKind.ENERGY, "", D("10.000"), D("2.00"), D("20.00"), D("5.00"), D("25.00")),
        (LineKind.SESSION_FEE, "", D("1.000"), D("5.00"), D("5.00"), D("1.25"), D("6.25")),
    ]
    assert totals(price) == (D("25.00"), D("6.25"), D("31.25"))


PEAK = TimeOfUse("Peak", frozenset({1, 2, 3, 4, 5}), time(16), time(20), price_per_kwh=D("4.00"))


def test_energy_is_split_at_a_time_of_use_boundary_by_interpolating_the_meter():
    terms = TariffTerms(price_per_kwh=D("2.00"), time_of_use=(PEAK,))
    # Wednesday 15 January 2025, CET (UTC+1): 15:30 local is 14:30 UTC.
    readings = [
        (utc(2025, 1, 15, 14, 30), D(10_000)),
        (utc(2025, 1, 15, 14, 40), D(12_000)),
        (utc(2025, 1, 15, 15, 10), D(14_400)),  # 16:10 local, past the 16:00 boundary
        (utc(2025, 1, 15, 15, 30), D(15_000)),
    ]
    price = price_session(usage(readings[0][0], readings[-1][0], readings), terms)
    # At 16:00 local (15:00 UTC), 20 of the 30 minutes between 15:40 and 16:10:
    # 12 000 + 2 400 x 20/30 = 13 600 Wh.
    # Off-peak 13 600 - 10 000 = 3.6 kWh x 2.00 = 7.20 (VAT 1.80)
    # Peak     15 000 - 13 600 = 1.4 kWh x 4.00 = 5.60 (VAT 1.40)
    assert table(price) == [
        (LineKind.ENERGY, "", D("3.600"), D("2.00"), D("7.20"), D("1.80"), D("9.00")),
        (LineKind.ENERGY, "Peak", D("1.400"), D("4.00"), D("5.60"), D("1.40"), D("7.00")),
    ]
    assert totals(price) == (D("12.80"), D("3.20"), D("16.00"))
    assert price.lines[1].description == "Energy (Peak)"


NIGHT = TimeOfUse(
    "Night", EVERY_DAY, time(22), time(6), price_per_kwh=D("1.00"), price_per_minute=D("0.05")
)
NIGHT_TARIFF = TariffTerms(
    price_per_kwh=D("3.00"), price_per_minute=D("0.10"), time_of_use=(NIGHT,)
)


def test_spring_forward_night_from_22_to_06_lasts_seven_hours():
    # Saturday 29 March 2025 20:00 CET (19:00 UTC) to Sunday 30 March 08:00 CEST
    # (06:00 UTC): 11 real hours at 7 kW = 77 kWh. The clocks go 02:00 -> 03:00.
    start, end = utc(2025, 3, 29, 19), utc(2025, 3, 30, 6)
    price = price_session(usage(start, end, steady(start, end, 7000)), NIGHT_TARIFF)
    # Night: 22:00 CET = 21:00 UTC to 06:00 CEST = 04:00 UTC: 7 h (not 8)
    #   energy 7 h x 7 kW = 49 kWh x 1.00 = 49.00; time 420 min x 0.05 = 21.00
    # Base: 19-21 UTC and 04-06 UTC: 4 h
    #   energy 28 kWh x 3.00 = 84.00; time 240 min x 0.10 = 24.00
    assert table(price) == [
        (LineKind.ENERGY, "", D("28.000"), D("3.00"), D("84.00"), D("21.00"), D("105.00")),
        (LineKind.TIME, "", D("240.000"), D("0.10"), D("24.00"), D("6.00"), D("30.00")),
        (LineKind.ENERGY, "Night", D("49.000"), D("1.00"), D("49.00"), D("12.25"), D("61.25")),
        (LineKind.TIME, "Night", D("420.000"), D("0.05"), D("21.00"), D("5.25"), D("26.25")),
    ]
    # net 84 + 24 + 49 + 21 = 178.00; VAT 44.50; gross 222.50
    assert totals(price) == (D("178.00"), D("44.50"), D("222.50"))


def test_fall_back_night_from_22_to_06_lasts_nine_hours():
    # Saturday 25 October 2025 20:00 CEST (18:00 UTC) to Sunday 26 October 08:00 CET
    # (07:00 UTC): 13 real hours at 7 kW. The clocks go 03:00 -> 02:00.
    start, end = utc(2025, 10, 25, 18), utc(2025, 10, 26, 7)
    price = price_session(usage(start, end, steady(start, end, 7000)), NIGHT_TARIFF)
    # Night: 22:00 CEST = 20:00 UTC to 06:00 CET = 05:00 UTC: 9 h (not 8)
    #   63 kWh x 1.00 = 63.00; 540 min x 0.05 = 27.00
    # Base: 18-20 UTC and 05-07 UTC: 4 h: 28 kWh x 3.00 = 84.00; 240 min x 0.10 = 24.00
    assert table(price) == [
        (LineKind.ENERGY, "", D("28.000"), D("3.00"), D("84.00"), D("21.00"), D("105.00")),
        (LineKind.TIME, "", D("240.000"), D("0.10"), D("24.00"), D("6.00"), D("30.00")),
        (LineKind.ENERGY, "Night", D("63.000"), D("1.00"), D("63.00"), D("15.75"), D("78.75")),
        (LineKind.TIME, "Night", D("540.000"), D("0.05"), D("27.00"), D("6.75"), D("33.75")),
    ]
    # net 84 + 24 + 63 + 27 = 198.00; VAT 49.50; gross 247.50
    assert totals(price) == (D("198.00"), D("49.50"), D("247.50"))


EARLY = TimeOfUse("Early", frozenset({7}), time(2, 30), time(5), price_per_kwh=D("1.00"))
EARLY_TARIFF = TariffTerms(price_per_kwh=D("3.00"), time_of_use=(EARLY,))


@pytest.mark.parametrize(
    ("start", "end", "base_kwh", "early_kwh"),
    [
        # Spring forward, Sunday 30 March 2025: the clock skips 02:30 and shows 03:00
        # CEST at 01:00 UTC, so Early runs 01:00-03:00 UTC (05:00 CEST). Session 00:00
        # CET (23:00 UTC) to 05:00 CEST (03:00 UTC) at 6 kW:
        # base 23:00-01:00 UTC = 2 h = 12 kWh; Early 2 h = 12 kWh.
        (utc(2025, 3, 29, 23), utc(2025, 3, 30, 3), "12.000", "12.000"),
        # Fall back, Sunday 26 October 2025: 02:30 happens twice; Early starts at the
        # first, 02:30 CEST = 00:30 UTC, and ends 05:00 CET = 04:00 UTC. Session 00:00
        # CEST (22:00 UTC) to 04:00 CET (03:00 UTC) at 6 kW:
        # base 22:00-00:30 UTC = 2.5 h = 15 kWh; Early 00:30-03:00 UTC = 2.5 h = 15 kWh.
        (utc(2025, 10, 25, 22), utc(2025, 10, 26, 3), "15.000", "15.000"),
    ],
)
def test_boundary_on_a_dst_night_is_when_the_clock_first_shows_it(start, end, base_kwh, early_kwh):
    price = price_session(usage(start, end, steady(start, end, 6000)), EARLY_TARIFF)
    assert [(line.period, line.quantity) for line in price.lines] == [
        ("", D(base_kwh)),
        ("Early", D(early_kwh)),
    ]
    # base x 3.00 + Early x 1.00: 36 + 12 = 48.00 in spring; 45 + 15 = 60.00 in autumn
    assert price.net == D(base_kwh) * 3 + D(early_kwh)


def test_local_boundaries_on_dst_days():
    # Skipped 02:30 -> the jump at 03:00 CEST = 01:00 UTC.
    assert local_boundary(date(2025, 3, 30), time(2, 30), STOCKHOLM) == utc(2025, 3, 30, 1)
    # Repeated 02:30 -> its first occurrence, 02:30 CEST = 00:30 UTC.
    assert local_boundary(date(2025, 10, 26), time(2, 30), STOCKHOLM) == utc(2025, 10, 26, 0, 30)
    # An ordinary day: 02:30 CET = 01:30 UTC.
    assert local_boundary(date(2025, 1, 12), time(2, 30), STOCKHOLM) == utc(2025, 1, 12, 1, 30)


def test_a_window_belongs_to_the_weekday_it_starts_on():
    weeknights = TimeOfUse("Night", frozenset({1, 2, 3, 4, 5}), time(22), time(6))
    terms = TariffTerms(time_of_use=(weeknights,))
    # Friday 7 March 2025 23:00 CET: Friday's night.
    assert time_of_use_at(terms, STOCKHOLM, utc(2025, 3, 7, 22)) == weeknights
    # Saturday 03:00 CET: still Friday's night, which runs to Saturday 06:00.
    assert time_of_use_at(terms, STOCKHOLM, utc(2025, 3, 8, 2)) == weeknights
    # Saturday 23:00 CET: no Saturday night in the list.
    assert time_of_use_at(terms, STOCKHOLM, utc(2025, 3, 8, 22)) is None


def test_where_windows_overlap_the_first_listed_wins():
    evening = TimeOfUse("Evening", EVERY_DAY, time(18), time(22))
    terms = TariffTerms(time_of_use=(PEAK, evening))
    # Wednesday 15 January 2025 19:00 CET = 18:00 UTC: both; Peak is listed first.
    assert time_of_use_at(terms, STOCKHOLM, utc(2025, 1, 15, 18)) == PEAK
    # 21:00 CET: only Evening.
    assert time_of_use_at(terms, STOCKHOLM, utc(2025, 1, 15, 20)) == evening


IDLE_TARIFF = TariffTerms(
    price_per_kwh=D("2.00"), idle_fee_per_minute=D("0.50"), idle_grace_minutes=30
)
# 18:00-19:00 UTC 7 kWh, 19:00-20:00 4 kWh, then flat: 11 kWh in all.
IDLE_READINGS = [
    (utc(2025, 5, 6, 18), D(0)),
    (utc(2025, 5, 6, 19), D(7_000)),
    (utc(2025, 5, 6, 20), D(11_000)),
    (utc(2025, 5, 6, 21), D(11_000)),
    (utc(2025, 5, 6, 22), D(11_000)),
]


def test_idle_fee_runs_from_when_the_power_samples_show_the_car_stopped_after_grace():
    power = [
        (utc(2025, 5, 6, 19, 40), D(3_000)),
        (utc(2025, 5, 6, 19, 50), D(0)),
        (utc(2025, 5, 6, 21, 30), D(0)),
    ]
    used = usage(utc(2025, 5, 6, 18), utc(2025, 5, 6, 22), IDLE_READINGS, power)
    price = price_session(used, IDLE_TARIFF)
    # The time the driver is told the fee starts (notifications): the same 20:20.
    assert idle_fee_from(used, IDLE_TARIFF) == utc(2025, 5, 6, 20, 20)
    # Last drawing 19:40, not drawing at 19:50: idle 19:50-22:00 = 130 min;
    # billable 130 - 30 grace = 100 min x 0.50 = 50.00. Energy 11 kWh x 2.00 = 22.00.
    assert table(price) == [
        (LineKind.ENERGY, "", D("11.000"), D("2.00"), D("22.00"), D("5.50"), D("27.50")),
        (LineKind.IDLE_FEE, "", D("100.000"), D("0.50"), D("50.00"), D("12.50"), D("62.50")),
    ]
    assert totals(price) == (D("72.00"), D("18.00"), D("90.00"))
    assert (price.charging_minutes, price.idle_minutes) == (D(110), D(130))


def test_idle_fee_without_power_samples_runs_from_when_the_energy_went_flat():
    used = usage(utc(2025, 5, 6, 18), utc(2025, 5, 6, 22), IDLE_READINGS)
    price = price_session(used, IDLE_TARIFF)
    assert idle_fee_from(used, IDLE_TARIFF) == utc(2025, 5, 6, 20, 30)
    # Energy flat from the 20:00 reading: idle 120 min - 30 grace = 90 min x 0.50 = 45.00
    # net 22.00 + 45.00 = 67.00; VAT 16.75; gross 83.75
    assert [(line.kind, line.quantity, line.net) for line in price.lines] == [
        (LineKind.ENERGY, D("11.000"), D("22.00")),
        (LineKind.IDLE_FEE, D("90.000"), D("45.00")),
    ]
    assert totals(price) == (D("67.00"), D("16.75"), D("83.75"))


def test_no_idle_fee_within_the_grace_period():
    readings = [*IDLE_READINGS[:3], (utc(2025, 5, 6, 20, 25), D(11_000))]
    price = price_session(
        usage(utc(2025, 5, 6, 18), utc(2025, 5, 6, 20, 25), readings), IDLE_TARIFF
    )
    # idle 20:00-20:25 = 25 min < 30 min grace: energy only, 11 kWh x 2.00 = 22.00
    # (the fee would start at 20:30).
    assert [line.kind for line in price.lines] == [LineKind.ENERGY]
    assert price.net == D("22.00")


def test_no_idle_fee_start_while_drawing_or_without_an_idle_fee():
    drawing = usage(utc(2025, 5, 6, 18), utc(2025, 5, 6, 20), IDLE_READINGS[:3])
    assert idle_fee_from(drawing, IDLE_TARIFF) is None
    stopped = usage(utc(2025, 5, 6, 18), utc(2025, 5, 6, 22), IDLE_READINGS)
    assert idle_fee_from(stopped, TariffTerms(price_per_kwh=D("2.00"))) is None


def test_price_per_minute_counts_charging_time_only_not_idle_time():
    terms = TariffTerms(price_per_minute=D("0.10"), idle_fee_per_minute=D("1.00"))
    price = price_session(usage(utc(2025, 5, 6, 18), utc(2025, 5, 6, 22), IDLE_READINGS), terms)
    # charging 18:00-20:00 = 120 min x 0.10 = 12.00; idle 20:00-22:00 = 120 min x 1.00
    assert [(line.kind, line.quantity, line.net) for line in price.lines] == [
        (LineKind.TIME, D("120.000"), D("12.00")),
        (LineKind.IDLE_FEE, D("120.000"), D("120.00")),
    ]


def test_minimum_price_tops_up_the_net_total():
    terms = TariffTerms(price_per_kwh=D("3.00"), min_price=D("10.00"), max_price=D("200.00"))
    start, end = utc(2025, 5, 6, 10), utc(2025, 5, 6, 10, 20)
    price = price_session(usage(start, end, [(start, D(0)), (end, D(2_000))]), terms)
    # 2 kWh x 3.00 = 6.00 < 10.00: + 4.00; net 10.00, VAT 1.50 + 1.00 = 2.50, gross 12.50
    assert table(price) == [
        (LineKind.ENERGY, "", D("2.000"), D("3.00"), D("6.00"), D("1.50"), D("7.50")),
        (LineKind.MINIMUM_PRICE, "", D("1.000"), D("4.00"), D("4.00"), D("1.00"), D("5.00")),
    ]
    assert totals(price) == (D("10.00"), D("2.50"), D("12.50"))


def test_maximum_price_caps_the_net_total_fees_included():
    terms = TariffTerms(
        price_per_kwh=D("3.00"), session_fee=D("5.00"), min_price=D("10.00"), max_price=D("200")
    )
    start, end = utc(2025, 5, 6, 10), utc(2025, 5, 6, 20)
    price = price_session(usage(start, end, [(start, D(0)), (end, D(100_000))]), terms)
    # 100 kWh x 3.00 = 300.00 + fee 5.00 = 305.00 > 200: - 105.00
    # VAT 75.00 + 1.25 - 26.25 = 50.00 = 200.00 x 25 %; gross 250.00
    assert [(line.kind, line.net, line.vat) for line in price.lines] == [
        (LineKind.ENERGY, D("300.00"), D("75.00")),
        (LineKind.SESSION_FEE, D("5.00"), D("1.25")),
        (LineKind.MAXIMUM_PRICE, D("-105.00"), D("-26.25")),
    ]
    assert totals(price) == (D("200.00"), D("50.00"), D("250.00"))


def test_between_minimum_and_maximum_no_adjustment():
    terms = TariffTerms(price_per_kwh=D("3.00"), min_price=D("10.00"), max_price=D("200"))
    start, end = utc(2025, 5, 6, 10), utc(2025, 5, 6, 11)
    price = price_session(usage(start, end, [(start, D(0)), (end, D(10_000))]), terms)
    assert [line.kind for line in price.lines] == [LineKind.ENERGY]
    assert price.net == D("30.00")


def kwh_session(wh: int, minutes: int = 60) -> SessionUsage:
    start = utc(2025, 5, 6, 10)
    end = start + timedelta(minutes=minutes)
    return usage(start, end, [(start, D(0)), (end, D(wh))])


@pytest.mark.parametrize(
    ("terms", "session", "expected"),
    [
        # A line net on a half öre rounds up: 3.335 kWh x 3.00 = 10.005 -> 10.01
        # (half even would say 10.00); VAT 10.01 x 25 % = 2.5025 -> 2.50; gross 12.51.
        (TariffTerms(price_per_kwh=D("3.00")), kwh_session(3_335), ("10.01", "2.50", "12.51")),
        # VAT on a half öre rounds up: 4.008 kWh x 2.50 = 10.02; VAT 2.505 -> 2.51
        # (half even would say 2.50); gross 12.53.
        (TariffTerms(price_per_kwh=D("2.50")), kwh_session(4_008), ("10.02", "2.51", "12.53")),
        # Another rate: 6 %. 1 kWh x 0.75 = 0.75; VAT 0.045 -> 0.05; gross 0.80.
        (
            TariffTerms(price_per_kwh=D("0.75"), vat_rate=D(6)),
            kwh_session(1_000),
            ("0.75", "0.05", "0.80"),
        ),
    ],
)
def test_half_ore_rounds_up(terms, session, expected):
    assert totals(price_session(session, terms)) == tuple(D(x) for x in expected)


def test_vat_is_computed_once_on_the_summed_net_and_shared_out_over_the_lines():
    terms = TariffTerms(price_per_kwh=D("10.00"), price_per_minute=D("0.02"), session_fee=D("0.02"))
    # 2 Wh x 10.00/kWh = 0.02; 1 min x 0.02 = 0.02; fee 0.02: net 0.06.
    # VAT per line would be 0.005 -> 0.01 each, 0.03 in all; on the sum it is
    # 0.06 x 25 % = 0.015 -> 0.02, shared out: 0.01, 0.01, 0.00 (ties to earlier lines).
    price = price_session(kwh_session(2, minutes=1), terms)
    assert [(line.kind, line.net, line.vat, line.gross) for line in price.lines] == [
        (LineKind.ENERGY, D("0.02"), D("0.01"), D("0.03")),
        (LineKind.TIME, D("0.02"), D("0.01"), D("0.03")),
        (LineKind.SESSION_FEE, D("0.02"), D("0.00"), D("0.02")),
    ]
    assert totals(price) == (D("0.06"), D("0.02"), D("0.08"))


def test_line_vat_goes_to_the_largest_remainder():
    terms = TariffTerms(price_per_kwh=D("3.00"), price_per_minute=D("0.10"))
    start, now = utc(2025, 5, 6, 10), utc(2025, 5, 6, 10, 30)
    readings = [
        (start, D(0)),
        (utc(2025, 5, 6, 10, 15), D(2_000)),
        (utc(2025, 5, 6, 10, 25), D(3_500)),
    ]
    price = price_session(usage(start, now, readings, running=True), terms)
    # energy 3.5 kWh x 3.00 = 10.50 (VAT 2.625), time 30 min x 0.10 = 3.00 (VAT 0.75)
    # VAT 13.50 x 25 % = 3.375 -> 3.38: floors 2.62 + 0.75 = 3.37, the öre left goes to
    # the energy line (remainder 0.005 against 0).
    assert [(line.net, line.vat) for line in price.lines] == [
        (D("10.50"), D("2.63")),
        (D("3.00"), D("0.75")),
    ]
    assert totals(price) == (D("13.50"), D("3.38"), D("16.88"))


def test_running_session_shows_its_cost_so_far():
    terms = TariffTerms(
        price_per_kwh=D("3.00"), price_per_minute=D("0.10"), idle_fee_per_minute=D("1.00")
    )
    start, now = utc(2025, 5, 6, 10), utc(2025, 5, 6, 10, 30)
    readings = [
        (start, D(0)),
        (utc(2025, 5, 6, 10, 15), D(2_000)),
        (utc(2025, 5, 6, 10, 25), D(3_500)),
    ]
    price = price_session(usage(start, now, readings, running=True), terms)
    # 3.5 kWh so far x 3.00 = 10.50; 30 min x 0.10 = 3.00. Still drawing at the last
    # reading and nothing says it stopped: no idle fee. Net 13.50, VAT 3.38, gross 16.88.
    assert not price.is_final
    assert [(line.kind, line.quantity) for line in price.lines] == [
        (LineKind.ENERGY, D("3.500")),
        (LineKind.TIME, D("30.000")),
    ]
    assert totals(price) == (D("13.50"), D("3.38"), D("16.88"))
    # A minute later with a new reading the cost has grown.
    later = price_session(
        usage(start, now + timedelta(minutes=1), [*readings, (now, D(4_000))], running=True),
        terms,
    )
    # 4 kWh x 3.00 = 12.00; 31 min x 0.10 = 3.10
    assert later.net == D("15.10")


def test_zero_energy_session_costs_nothing():
    terms = TariffTerms(
        price_per_kwh=D("3.00"),
        price_per_minute=D("0.10"),
        session_fee=D("5.00"),
        idle_fee_per_minute=D("1.00"),
        min_price=D("10.00"),
    )
    start, end = utc(2025, 5, 6, 10), utc(2025, 5, 6, 12)
    readings = [(start, D(5_000)), (utc(2025, 5, 6, 11), D(5_000)), (end, D(5_000))]
    price = price_session(usage(start, end, readings), terms)
    assert price.lines == ()
    assert totals(price) == (D(0), D(0), D(0))
    assert price.energy_kwh == 0


def test_a_meter_register_going_backwards_adds_nothing():
    terms = TariffTerms(price_per_kwh=D("1.00"))
    start = utc(2025, 5, 6, 10)
    readings = [
        (start, D(0)),
        (start + timedelta(minutes=20), D(5_000)),
        (start + timedelta(minutes=40), D(100)),  # meter replaced
        (start + timedelta(minutes=60), D(1_100)),
    ]
    price = price_session(usage(start, start + timedelta(hours=1), readings), terms)
    # 5 000 + 0 + 1 000 Wh = 6 kWh x 1.00
    assert price.net == D("6.00")


def test_bad_session_times_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        price_session(usage(datetime(2025, 5, 6, 10), utc(2025, 5, 6, 11), []), TariffTerms())
    with pytest.raises(ValueError, match="cannot end before it starts"):
        price_session(usage(utc(2025, 5, 6, 11), utc(2025, 5, 6, 10), []), TariffTerms())
    with pytest.raises(ValueError, match="Unknown time zone"):
        price_session(
            SessionUsage(utc(2025, 5, 6, 10), utc(2025, 5, 6, 11), [], time_zone="Mars/Olympus"),
            TariffTerms(),
        )
