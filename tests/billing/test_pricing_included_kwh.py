"""billing/pricing.py: kWh included in a subscription plan, checked against tables
computed by hand.

The rule (pricing's docstring): after minimum and maximum price, a negative line covers
min(included, energy) kWh, counted in whole Wh (rounded down), at the session's average
energy net price; rounded once like every line; never below a zero session. Prices net,
VAT 25 % unless stated.
"""

from datetime import UTC, datetime, time
from decimal import Decimal

import pytest

from billing.pricing import LineKind, Price, SessionUsage, TariffTerms, TimeOfUse, price_session
from stations.sessions import energy_steps

EVERY_DAY = frozenset(range(1, 8))
START = datetime(2025, 5, 6, 10, tzinfo=UTC)  # a Tuesday, 12:00 in Stockholm (CEST)
END = datetime(2025, 5, 6, 11, tzinfo=UTC)
# 21:00 and 23:00 in Stockholm: an hour either side of a night window starting at 22:00.
EVENING = datetime(2025, 5, 6, 19, tzinfo=UTC)
TEN_PM = datetime(2025, 5, 6, 20, tzinfo=UTC)
NIGHT = datetime(2025, 5, 6, 21, tzinfo=UTC)
NIGHT_TARIFF = TariffTerms(
    price_per_kwh=Decimal("3.00"),
    time_of_use=(TimeOfUse("Night", EVERY_DAY, time(22), time(6), price_per_kwh=Decimal("1.00")),),
)


def D(value: str | int) -> Decimal:
    return Decimal(value)


def usage(wh: str | int, start: datetime = START, end: datetime = END) -> SessionUsage:
    """A session whose meter went from 0 to `wh` Wh between start and end."""
    return SessionUsage(
        started_at=start,
        ended_at=end,
        energy=energy_steps([(start, D(0)), (end, D(wh))]),
        time_zone="Europe/Stockholm",
    )


def evening(before_ten_wh: int, after_ten_wh: int) -> SessionUsage:
    """21:00 to 23:00 Stockholm time, meter read at 22:00 when the night window opens."""
    return SessionUsage(
        started_at=EVENING,
        ended_at=NIGHT,
        energy=energy_steps(
            [
                (EVENING, D(0)),
                (TEN_PM, D(before_ten_wh)),
                (NIGHT, D(before_ten_wh + after_ten_wh)),
            ]
        ),
        time_zone="Europe/Stockholm",
    )


def table(price: Price) -> list[tuple]:
    """(kind, quantity, unit price, net, vat, gross) per line."""
    return [
        (line.kind, line.quantity, line.unit_price, line.net, line.vat, line.gross)
        for line in price.lines
    ]


def totals(price: Price) -> tuple[Decimal, Decimal, Decimal]:
    return price.net, price.vat, price.gross


def test_included_kwh_take_off_part_of_the_energy_at_its_price():
    terms = TariffTerms(price_per_kwh=D("2.40"))
    price = price_session(usage(12_345), terms, included_kwh=D("10"))
    # energy 12.345 x 2.40 = 29.628 -> 29.63; included 10.000 x 2.40 = 24.00
    # net 5.63; VAT 5.63 x 25 % = 1.4075 -> 1.41, shared: 7.4075 / -6.00 -> floors
    # 7.40 / -6.00 = 1.40, the missing öre to the larger remainder (energy).
    assert table(price) == [
        (LineKind.ENERGY, D("12.345"), D("2.40"), D("29.63"), D("7.41"), D("37.04")),
        (LineKind.INCLUDED_ENERGY, D("10.000"), D("-2.40"), D("-24.00"), D("-6.00"), D("-30.00")),
    ]
    assert totals(price) == (D("5.63"), D("1.41"), D("7.04"))
    assert price.lines[1].description == "Included in your plan"
    assert price.lines[1].unit == "kWh"


def test_allowance_larger_than_the_session_covers_all_its_energy_but_not_the_fees():
    terms = TariffTerms(price_per_kwh=D("2.40"), session_fee=D("5.00"))
    price = price_session(usage(12_345), terms, included_kwh=D("50"))
    # covered min(50, 12.345) = 12.345 kWh x 2.40 = 29.628 -> -29.63
    # net 29.63 + 5.00 - 29.63 = 5.00; VAT 1.25. Exact shares 7.4075 / 1.25 / -7.4075,
    # floors 7.40 / 1.25 / -7.41 = 1.24, the öre to the largest remainder (energy 0.0075).
    assert table(price) == [
        (LineKind.ENERGY, D("12.345"), D("2.40"), D("29.63"), D("7.41"), D("37.04")),
        (LineKind.SESSION_FEE, D("1.000"), D("5.00"), D("5.00"), D("1.25"), D("6.25")),
        (
            LineKind.INCLUDED_ENERGY,
            D("12.345"),
            D("-2.40"),
            D("-29.63"),
            D("-7.41"),
            D("-37.04"),
        ),
    ]
    assert totals(price) == (D("5.00"), D("1.25"), D("6.25"))


def test_covered_kwh_are_valued_at_the_average_price_over_time_of_use_windows():
    price = price_session(evening(10_000, 10_000), NIGHT_TARIFF, included_kwh=D("5"))
    # 10 kWh x 3.00 = 30.00 before 22:00, 10 kWh x 1.00 = 10.00 at night: 40.00 for 20 kWh,
    # an average of 2.00. Included 5 kWh x 2.00 = -10.00. Net 30.00, VAT 7.50 (exact).
    assert table(price) == [
        (LineKind.ENERGY, D("10.000"), D("3.00"), D("30.00"), D("7.50"), D("37.50")),
        (LineKind.ENERGY, D("10.000"), D("1.00"), D("10.00"), D("2.50"), D("12.50")),
        (LineKind.INCLUDED_ENERGY, D("5.000"), D("-2.0000"), D("-10.00"), D("-2.50"), D("-12.50")),
    ]
    assert totals(price) == (D("30.00"), D("7.50"), D("37.50"))


def test_an_inexact_average_is_kept_exact_and_the_line_rounded_once():
    price = price_session(evening(1_000, 2_000), NIGHT_TARIFF, included_kwh=D("1"))
    # 1 kWh x 3.00 + 2 kWh x 1.00 = 5.00 for 3 kWh: average 1.6666…, shown 1.6667.
    # Included 1 kWh x 5/3 = 1.6666… -> -1.67 (not 1 x 1.6667 = 1.6667, nor 1.67 x 1).
    # Net 3.00 + 2.00 - 1.67 = 3.33; VAT 0.8325 -> 0.83; shares 0.75 / 0.50 / -0.4175,
    # floors 0.75 / 0.50 / -0.42 = 0.83: nothing left to hand out.
    assert table(price) == [
        (LineKind.ENERGY, D("1.000"), D("3.00"), D("3.00"), D("0.75"), D("3.75")),
        (LineKind.ENERGY, D("2.000"), D("1.00"), D("2.00"), D("0.50"), D("2.50")),
        (LineKind.INCLUDED_ENERGY, D("1.000"), D("-1.6667"), D("-1.67"), D("-0.42"), D("-2.09")),
    ]
    assert totals(price) == (D("3.33"), D("0.83"), D("4.16"))


def test_covered_energy_is_counted_in_whole_wh_rounded_down():
    terms = TariffTerms(price_per_kwh=D("2.00"))
    price = price_session(usage("2000.7"), terms, included_kwh=D("5"))
    # 2.0007 kWh x 2.00 = 4.0014 -> 4.00, shown as 2.001 kWh (half up);
    # covered 2.000 kWh (down to the Wh) x 2.00 = -4.00, so the allowance used is
    # exactly the 2.000 kWh shown. Net 0.00.
    assert table(price) == [
        (LineKind.ENERGY, D("2.001"), D("2.00"), D("4.00"), D("1.00"), D("5.00")),
        (LineKind.INCLUDED_ENERGY, D("2.000"), D("-2.00"), D("-4.00"), D("-1.00"), D("-5.00")),
    ]
    assert totals(price) == (D("0.00"), D("0.00"), D("0.00"))


def test_minimum_price_applies_before_the_included_kwh():
    terms = TariffTerms(price_per_kwh=D("3.00"), min_price=D("10.00"))
    price = price_session(usage(1_000), terms, included_kwh=D("5"))
    # 1 kWh x 3.00 = 3.00, topped up to the minimum: +7.00; then the included kWh
    # take off the energy: 1 kWh x 3.00 = -3.00. Net 7.00, VAT 1.75 (exact shares).
    assert table(price) == [
        (LineKind.ENERGY, D("1.000"), D("3.00"), D("3.00"), D("0.75"), D("3.75")),
        (LineKind.MINIMUM_PRICE, D("1.000"), D("7.00"), D("7.00"), D("1.75"), D("8.75")),
        (LineKind.INCLUDED_ENERGY, D("1.000"), D("-3.00"), D("-3.00"), D("-0.75"), D("-3.75")),
    ]
    assert totals(price) == (D("7.00"), D("1.75"), D("8.75"))


def test_a_capped_session_goes_to_zero_and_uses_only_the_kwh_that_takes():
    terms = TariffTerms(price_per_kwh=D("3.00"), max_price=D("20.00"))
    price = price_session(usage(20_000), terms, included_kwh=D("100"))
    # 20 kWh x 3.00 = 60.00, capped: -40.00, leaving 20.00. The 20 kWh included would be
    # worth 60.00, more than is left: the line takes 20.00 and covers 20.00 / 3.00 =
    # 6.666… -> 6.666 kWh (down to the Wh). Net 0.00.
    assert table(price) == [
        (LineKind.ENERGY, D("20.000"), D("3.00"), D("60.00"), D("15.00"), D("75.00")),
        (LineKind.MAXIMUM_PRICE, D("1.000"), D("-40.00"), D("-40.00"), D("-10.00"), D("-50.00")),
        (LineKind.INCLUDED_ENERGY, D("6.666"), D("-3.00"), D("-20.00"), D("-5.00"), D("-25.00")),
    ]
    assert totals(price) == (D("0.00"), D("0.00"), D("0.00"))


def test_no_line_when_the_energy_itself_is_free():
    # Charged by the minute only: there is no energy price to take off, so the
    # allowance is left for a session where it is worth something.
    terms = TariffTerms(price_per_minute=D("0.50"))
    price = price_session(usage(10_000), terms, included_kwh=D("5"))
    # 60 min x 0.50 = 30.00
    assert [line.kind for line in price.lines] == [LineKind.TIME]
    assert totals(price) == (D("30.00"), D("7.50"), D("37.50"))


def test_a_session_without_energy_uses_nothing():
    terms = TariffTerms(price_per_kwh=D("3.00"), session_fee=D("5.00"), min_price=D("10"))
    price = price_session(usage(0), terms, included_kwh=D("5"))
    assert price.lines == ()
    assert totals(price) == (D("0"), D("0.00"), D("0.00"))


def test_without_an_allowance_the_price_is_unchanged():
    terms = TariffTerms(price_per_kwh=D("2.40"), session_fee=D("1.00"), max_price=D("20"))
    assert price_session(usage(12_345), terms, included_kwh=D("0")) == price_session(
        usage(12_345), terms
    )


def test_running_session_shows_the_allowance_in_its_cost_so_far():
    terms = TariffTerms(price_per_kwh=D("2.00"))
    running = SessionUsage(
        started_at=START,
        ended_at=END,
        energy=energy_steps([(START, D(0)), (END, D(4_000))]),
        running=True,
    )
    price = price_session(running, terms, included_kwh=D("3"))
    # 4 kWh x 2.00 = 8.00; 3 kWh x 2.00 = -6.00; net 2.00
    assert not price.is_final
    assert [line.net for line in price.lines] == [D("8.00"), D("-6.00")]
    assert price.net == D("2.00")


@pytest.mark.parametrize("bad", [D("-1"), D("NaN"), D("Infinity")])
def test_an_allowance_that_is_no_amount_is_refused(bad):
    with pytest.raises(ValueError, match="Included kWh"):
        price_session(usage(1_000), TariffTerms(price_per_kwh=D("1")), included_kwh=bad)
