"""Distributions, power classes and use per charger and connector against figures
computed by hand: a week in March 2026 (Stockholm) at one site with a charger of two
22 kW Type 2 connectors and a 150 kW CCS charger, four sessions."""

from datetime import date
from decimal import Decimal

import pytest

from insights import figures, rollup
from stations.models import ChargePoint, Connector
from tests.insights.small_history import local, session, site

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def week():
    place, a, b = site()
    fast = Connector.objects.create(
        charge_point=ChargePoint.objects.create(charge_point_id="CP-DC", site=place),
        connector_id=1,
        connector_type="CCS2",
        max_power_kw=D("150"),
    )
    session(a, local(2026, 3, 2, 8, 0), 120, "11", 60)  # 120 min, 11 kWh
    session(b, local(2026, 3, 2, 8, 30), 30, "5.5", 30)  # 30 min, 5.5 kWh
    session(b, local(2026, 3, 4, 17, 0), 60, "22", 60)  # 60 min, 22 kWh
    session(fast, local(2026, 3, 5, 12, 0), 25, "40", 25)  # 25 min, 40 kWh
    assert rollup.roll_up() == 4
    return figures.Scope(start=date(2026, 3, 2), end=date(2026, 3, 8), site=place)


def test_session_length_is_a_histogram_not_an_average(week):
    rows = figures.session_lengths(week).rows
    assert rows == [
        ["0-15 min", 0, D("0")],
        ["15-30 min", 1, D("25.0")],  # the 25 min DC session
        ["30-60 min", 1, D("25.0")],  # 30 min: from its edge up
        ["60-120 min", 1, D("25.0")],
        ["120-240 min", 1, D("25.0")],
        ["240-480 min", 0, D("0")],
        ["480-720 min", 0, D("0")],
        ["720+ min", 0, D("0")],
    ]


def test_energy_per_session_is_a_histogram(week):
    counts = {row[0]: row[1] for row in figures.session_energies(week).rows}
    assert counts == {
        "0-5 kWh": 0,
        "5-10 kWh": 1,  # 5.5
        "10-20 kWh": 1,  # 11
        "20-30 kWh": 1,  # 22
        "30-40 kWh": 0,
        "40-60 kWh": 1,  # 40
        "60-80 kWh": 0,
        "80+ kWh": 0,
    }


def test_share_of_sessions_and_energy_by_power_class_and_connector_type(week):
    # 78.5 kWh in all: AC 38.5 (49.04 %), DC 40 (50.96 %); sessions 3 of 4 and 1 of 4.
    assert figures.power_classes(week).rows == [
        ["AC up to 22 kW", 3, D("75.0"), D("38.500"), D("49.0")],
        ["DC 150 kW and more", 1, D("25.0"), D("40.000"), D("51.0")],
    ]
    assert figures.connector_types(week).rows == [
        ["CCS2", 1, D("25.0"), D("40.000"), D("51.0")],
        ["Type2", 3, D("75.0"), D("38.500"), D("49.0")],
    ]


@pytest.mark.parametrize(
    ("rated", "kind", "expected"),
    [
        ("22", "Type2", "ac"),
        ("43", "Type2", "ac_fast"),
        ("50", "CCS2", "dc"),
        ("99.99", "CHAdeMO", "dc"),
        ("100", "CCS2", "dc_fast"),
        ("150", "CCS1", "dc_high"),
        ("3.7", "Other", "ac"),
        ("50", "Other", "dc"),
    ],
)
def test_power_classes_are_stated_by_rated_power_and_current(rated, kind, expected):
    assert rollup.power_class(kind, D(rated)) == expected


def test_use_per_charger_is_its_connectors_time_energy_and_sessions(week):
    # The Type 2 charger: 2 x 604,800 s; occupied 7,200 + 1,800 + 3,600 = 12,600 s
    # (1.04 %), charging 9,000 s (0.74 %), 38.5 kWh, 3 sessions = 0.43 a day.
    # The DC charger: 1,500 of 604,800 s (0.25 %) occupied and charging, 40 kWh.
    assert figures.utilisation_by_charger(week).rows == [
        ["Hand site", "CP-Hand sit", 2, D("1.0"), D("0.7"), D("38.500"), 3, D("0.4")],
        ["Hand site", "CP-DC", 1, D("0.2"), D("0.2"), D("40.000"), 1, D("0.1")],
    ]
    per_week = figures.Scope(week.start, week.end, week.site, per="week")
    table = figures.utilisation_by_charger(per_week)
    assert [row[-1] for row in table.rows] == [D("3.0"), D("1.0")]
    assert table.columns[-1] == "Sessions per week"


def test_use_per_connector(week):
    # A: 7,200 s occupied (1.19 %), 3,600 charging (0.60 %); B: 1,800 + 3,600 = 5,400 s
    # occupied and charging (0.89 %), 27.5 kWh in 2 sessions (0.29 a day).
    assert figures.utilisation_by_connector(week).rows == [
        ["CP-Hand sit/1", "Hand site", "Type2", D("22.00"), D("1.2"), D("0.6"), D("11.000"),
         1, D("0.1")],
        ["CP-Hand sit/2", "Hand site", "Type2", D("22.00"), D("0.9"), D("0.9"), D("27.500"),
         2, D("0.3")],
        ["CP-DC/1", "Hand site", "CCS2", D("150.00"), D("0.2"), D("0.2"), D("40.000"),
         1, D("0.1")],
    ]  # fmt: skip
    type2 = figures.Scope(week.start, week.end, week.site, connector_type="CCS2")
    assert [row[0] for row in figures.utilisation_by_connector(type2).rows] == ["CP-DC/1"]
