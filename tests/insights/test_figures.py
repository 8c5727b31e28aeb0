"""The dashboards' figures against figures computed by hand on a small history: a week in
March 2026 (Stockholm, UTC+1) at one site of two 22 kW connectors, three sessions."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import BillingAccount, CustomerGroup, SessionCharge
from insights import figures, rollup
from insights.models import ConnectorHour, DriverMonth, SessionMix, SiteDay
from tests.insights.small_history import driver, local, no_show_fee, session, site
from users.models import IdToken

pytestmark = pytest.mark.django_db
NONE = Decimal("0.00")  # no no-show fees


@pytest.fixture
def week():
    place, a, b = site()
    # Monday 08:00-10:00 on A: charging 60 min (11 kWh: 11 kW, half its 22 kW), idle 60.
    session(a, local(2026, 3, 2, 8, 0), 120, "11", 60, "card", "50.00")
    # Monday 08:30-09:00 on B: charging all 30 min, 5.5 kWh.
    session(b, local(2026, 3, 2, 8, 30), 30, "5.5", 30, "wallet", "25.00")
    # Wednesday 17:00-18:00 on B: 22 kWh in 60 min, its full 22 kW.
    session(b, local(2026, 3, 4, 17, 0), 60, "22", 60, "invoice", "100.00")
    assert rollup.roll_up() == 3
    return figures.Scope(start=date(2026, 3, 2), end=date(2026, 3, 8), site=place)


def test_utilisation_is_occupied_and_charging_time_over_the_connectors_time(week):
    # 2 connectors x 7 days x 86,400 s = 1,209,600 s; occupied 7,200 + 1,800 + 3,600 =
    # 12,600 s = 1.04 %; charging 3,600 + 1,800 + 3,600 = 9,000 s = 0.74 %.
    table = figures.utilisation_by_site(week)
    assert table.rows == [["Hand site", Decimal("1.0"), Decimal("0.7")]]


def test_the_heatmap_shares_each_local_hour_of_the_week_between_the_connectors(week):
    rows = figures.occupancy_heatmap(week).rows
    monday, wednesday = rows[0], rows[2]
    # Monday 08-09: A the whole hour, B half of it: 5,400 of 7,200 s.
    assert monday[1 + 8] == Decimal("75.0")
    assert monday[1 + 9] == Decimal("50.0")  # A alone, 09-10
    assert wednesday[1 + 17] == Decimal("50.0")
    assert sum(cell for row in rows for cell in row[1:]) == Decimal("175.0")


def test_idle_time_after_charging_and_the_average_session_per_day(week):
    rows = {row[0]: row[1:] for row in figures.session_shape(week).rows}
    # Monday: (120 + 30) / 2 plugged in, (60 + 30) / 2 charging, (60 + 0) / 2 idle,
    # (11 + 5.5) / 2 kWh.
    assert rows["2026-03-02"] == [
        Decimal("75.0"),
        Decimal("45.0"),
        Decimal("30.0"),
        Decimal("8.250"),
    ]
    assert rows["2026-03-04"] == [
        Decimal("60.0"),
        Decimal("60.0"),
        Decimal("0.0"),
        Decimal("22.000"),
    ]


def test_revenue_by_payment_method_with_the_price_actually_paid_per_kwh(week):
    rows = {row[0]: row[1:] for row in figures.revenue_by_method(week).rows}
    # Total, net, sessions, of which no-show fees (none here), paid per kWh.
    assert rows["Card on file"] == [Decimal("50.00"), Decimal("40.00"), 1, NONE, Decimal("4.55")]
    assert rows["Wallet"] == [Decimal("25.00"), Decimal("20.00"), 1, NONE, Decimal("4.55")]
    assert rows["Monthly invoice"] == [
        Decimal("100.00"), Decimal("80.00"), 1, NONE, Decimal("4.55")
    ]  # fmt: skip


def test_delivered_power_flags_the_connector_that_gave_half_its_rating(week):
    rows = {row[0]: row[1:] for row in figures.delivered_power(week).rows}
    assert rows["CP-Hand sit/1"] == [Decimal("22"), Decimal("11.0"), Decimal("50.0"), "slow"]
    # B: 27.5 kWh in 1.5 h = 18.3 kW.
    assert rows["CP-Hand sit/2"] == [Decimal("22"), Decimal("18.3"), Decimal("83.3"), ""]


def test_retention_by_monthly_cohort():
    _place, a, _b = site("Cohorts")
    first = driver("first@example.com", local(2026, 1, 5, 12))
    second = driver("second@example.com", local(2026, 1, 20, 12))
    third = driver("third@example.com", local(2026, 2, 3, 12))
    for token, month in [(first, 1), (second, 1), (first, 2), (second, 3), (third, 2), (third, 3)]:
        session(
            a, local(2026, month, 10 + len(token.uid) % 5, 10 + month), 30, "5", 30, token=token
        )
    rollup.roll_up()
    assert DriverMonth.objects.count() == 6
    scope = figures.Scope(start=date(2026, 1, 1), end=date(2026, 3, 31))
    rows = figures.retention(scope).rows
    # January's two: both in month 0, one in month 1 (first), one in month 2 (second).
    assert rows[0] == ["2026-01", 2, Decimal("100.0"), Decimal("50.0"), Decimal("50.0")]
    assert rows[1] == ["2026-02", 1, Decimal("100.0"), Decimal("100.0"), Decimal("0.0")]


@pytest.fixture
def customers():
    """February and March 2026 at one site: a session of each kind of customer."""
    _place, a, b = site()
    taxi = CustomerGroup.objects.create(name="Taxi Nord", kind=CustomerGroup.Kind.FLEET)
    fleet_account = BillingAccount.objects.create(fleet=taxi, payment_method="invoice")
    plus = CustomerGroup.objects.create(name="Plus", kind=CustomerGroup.Kind.PLAN)
    crew = CustomerGroup.objects.create(name="Crew", kind=CustomerGroup.Kind.STAFF)
    joined = local(2025, 12, 1, 12, 0)
    fleet_driver = driver("anna@taxi.example", joined)
    taxi.members.add(fleet_driver.owner)
    subscriber = driver("bo@example.com", joined)
    plus.members.add(subscriber.owner)
    employee = driver("cia@example.com", joined)
    crew.members.add(employee.owner)
    plus.members.add(employee.owner)  # staff and subscriber: counted as staff
    payg = driver("dan@example.com", joined)
    unowned = IdToken.objects.create(uid="LOST-CARD")
    # February: the fleet twice (paid by its account even though the driver is in no
    # plan), a subscriber, a pay-as-you-go driver, a guest.
    session(a, local(2026, 2, 10, 8, 0), 60, "20", 60, "invoice", "90.00", fleet_driver,
            fleet_account)  # fmt: skip
    session(b, local(2026, 2, 11, 9, 0), 60, "10", 60, "invoice", "45.00", fleet_driver,
            fleet_account)  # fmt: skip
    session(a, local(2026, 2, 12, 8, 0), 60, "16", 60, "card", "40.00", subscriber)
    session(b, local(2026, 2, 12, 8, 0), 60, "8", 60, "wallet", "36.00", payg)
    session(a, local(2026, 2, 28, 23, 30), 60, "12", 60, "guest", "60.00")  # 28 Feb, local
    # March: staff charge free, the subscriber again, an id tag nobody owns.
    session(a, local(2026, 3, 3, 8, 0), 60, "15", 60, "none", "0.00", employee)
    session(b, local(2026, 3, 3, 8, 0), 60, "5", 60, "card", "12.50", subscriber)
    session(b, local(2026, 3, 5, 8, 0), 60, "4", 60, "none", "0.00", unowned)
    assert rollup.roll_up() == 8
    return figures.Scope(start=date(2026, 2, 1), end=date(2026, 3, 31))


def test_revenue_per_customer_group_names_fleets_plans_and_staff_and_the_rest_by_kind(
    customers,
):
    rows = {row[0]: row[1:] for row in figures.revenue_by_group(customers).rows}
    # Totals incl. VAT, net (total / 1.25), sessions, of which no-show fees, total per kWh.
    assert rows == {
        "Taxi Nord": ["Fleet", Decimal("135.00"), Decimal("108.00"), 2, NONE, Decimal("4.50")],
        "Plus": ["Subscription plan", Decimal("52.50"), Decimal("42.00"), 2, NONE, Decimal("2.50")],
        "Crew": ["Staff", Decimal("0.00"), Decimal("0.00"), 1, NONE, Decimal("0.00")],
        "Pay-as-you-go drivers": [
            "Pay-as-you-go drivers", Decimal("36.00"), Decimal("28.80"), 1, NONE, Decimal("4.50")
        ],
        "Guests paying at the charger": [
            "Guests paying at the charger", Decimal("60.00"), Decimal("48.00"), 1, NONE,
            Decimal("5.00"),
        ],
        "Without an account": [
            "Without an account", Decimal("0.00"), Decimal("0.00"), 1, NONE, Decimal("0.00")
        ],
    }  # fmt: skip


def test_revenue_per_customer_group_and_month(customers):
    rows = {(row[0], row[1]): row[3:] for row in figures.revenue_by_group_and_month(customers).rows}
    assert rows == {
        ("2026-02", "Taxi Nord"): [Decimal("135.00"), Decimal("108.00"), 2, NONE, Decimal("4.50")],
        ("2026-02", "Plus"): [Decimal("40.00"), Decimal("32.00"), 1, NONE, Decimal("2.50")],
        ("2026-02", "Pay-as-you-go drivers"): [
            Decimal("36.00"), Decimal("28.80"), 1, NONE, Decimal("4.50")
        ],
        ("2026-02", "Guests paying at the charger"): [
            Decimal("60.00"), Decimal("48.00"), 1, NONE, Decimal("5.00")
        ],
        ("2026-03", "Crew"): [Decimal("0.00"), Decimal("0.00"), 1, NONE, Decimal("0.00")],
        ("2026-03", "Plus"): [Decimal("12.50"), Decimal("10.00"), 1, NONE, Decimal("2.50")],
        ("2026-03", "Without an account"): [
            Decimal("0.00"), Decimal("0.00"), 1, NONE, Decimal("0.00")
        ],
    }  # fmt: skip
    # The months add up to the period's figures per group.
    february_and_march = sum(row[3] for row in figures.revenue_by_group_and_month(customers).rows)
    assert february_and_march == Decimal("283.50")


def test_a_staff_member_on_a_plan_counts_as_staff_and_is_on_the_plan(customers):
    # cia@ is in Crew (staff) and Plus (plan): her money counts under Crew, and her month
    # is on a plan all the same.
    crew = SiteDay.objects.get(customer_group="Crew")
    assert (crew.customer_kind, crew.sessions) == ("staff", 1)
    months = {
        (row.user.email, row.month): row.on_plan
        for row in DriverMonth.objects.select_related("user")
    }
    assert months == {
        ("anna@taxi.example", date(2026, 2, 1)): False,
        ("bo@example.com", date(2026, 2, 1)): True,
        ("dan@example.com", date(2026, 2, 1)): False,
        ("cia@example.com", date(2026, 3, 1)): True,
        ("bo@example.com", date(2026, 3, 1)): True,
    }
    # Four drivers, one each: paid by, subscription, drivers, share (%).
    assert figures.driver_shares(customers).rows == [
        ["Card on file", "on a plan", 1, Decimal("25.0")],
        ["Monthly invoice", "no plan", 1, Decimal("25.0")],
        ["None", "on a plan", 1, Decimal("25.0")],
        ["Wallet", "no plan", 1, Decimal("25.0")],
    ]
    rolled_up = sorted(DriverMonth.objects.values_list("user__email", "month", "on_plan"))
    rollup.rebuild()
    assert sorted(DriverMonth.objects.values_list("user__email", "month", "on_plan")) == rolled_up


@pytest.fixture
def fees():
    """March and April 2026 at one site: one session, and two no-show fees (a driver's by
    card, still unpaid; a fleet's on its invoice, its slot at 00:30 on 1 April local)."""
    place, a, b = site()
    joined = local(2026, 1, 5, 12, 0)
    payg = driver("dan@example.com", joined)
    taxi = CustomerGroup.objects.create(name="Taxi Nord", kind=CustomerGroup.Kind.FLEET)
    fleet_account = BillingAccount.objects.create(fleet=taxi, payment_method="invoice")
    fleet_driver = driver("anna@taxi.example", joined)
    taxi.members.add(fleet_driver.owner)
    # Monday 08:00-09:00 on A: 10 kWh for 40.00, 4.00 a kWh.
    session(a, local(2026, 3, 2, 8, 0), 60, "10", 60, "card", "40.00", payg)
    no_show_fee(b, local(2026, 3, 3, 10, 0), payg, "card", "25.00", SessionCharge.Status.FAILED)
    no_show_fee(a, local(2026, 4, 1, 0, 30), fleet_driver, "invoice", "50.00",
                SessionCharge.Status.TO_INVOICE, fleet_account)  # fmt: skip
    assert rollup.roll_up() == 3
    return figures.Scope(start=date(2026, 3, 2), end=date(2026, 4, 5), site=place)


def test_no_show_fees_count_in_revenue_but_are_no_sessions_and_not_in_the_price_per_kwh(fees):
    # Total, net, sessions, of which no-show fees, paid per kWh (the session's 40.00 over
    # its 10 kWh, the fees left out).
    assert figures.revenue_by_site(fees).rows == [
        ["Hand site", Decimal("115.00"), Decimal("92.00"), 1, Decimal("75.00"), Decimal("4.00")]
    ]
    by_method = {row[0]: row[1:] for row in figures.revenue_by_method(fees).rows}
    assert by_method == {
        "Card on file": [Decimal("65.00"), Decimal("52.00"), 1, Decimal("25.00"), Decimal("4.00")],
        "Monthly invoice": [Decimal("50.00"), Decimal("40.00"), 0, Decimal("50.00"), NONE],
    }
    by_group = {row[0]: row[1:] for row in figures.revenue_by_group(fees).rows}
    assert by_group == {
        "Pay-as-you-go drivers": [
            "Pay-as-you-go drivers", Decimal("65.00"), Decimal("52.00"), 1, Decimal("25.00"),
            Decimal("4.00"),
        ],
        "Taxi Nord": ["Fleet", Decimal("50.00"), Decimal("40.00"), 0, Decimal("50.00"), NONE],
    }  # fmt: skip
    # The fleet's slot began on 1 April in Stockholm (31 March in UTC).
    assert figures.revenue_by_month(fees).rows == [
        ["2026-03", Decimal("65.00"), Decimal("52.00"), 1, Decimal("25.00"), Decimal("4.00")],
        ["2026-04", Decimal("50.00"), Decimal("40.00"), 0, Decimal("50.00"), NONE],
    ]
    assert "no-show fees" in figures.revenue_by_site(fees).note


def test_no_show_fees_add_no_sessions_energy_or_time(fees):
    assert sum(row.sessions for row in SiteDay.objects.all()) == 1
    assert sum(row.energy_wh for row in SiteDay.objects.all()) == 10_000
    assert sum(row[2] for row in figures.energy_and_sessions(fees).rows) == 1
    assert [(row.sessions, row.energy_wh) for row in DriverMonth.objects.all()] == [(1, 10_000)]
    # The session's hour on A only: the booked slots are no occupied time.
    assert list(ConnectorHour.objects.values_list("occupied_seconds", "sessions")) == [(3600, 1)]
    assert list(SessionMix.objects.values_list("sessions", flat=True)) == [1]


def test_unpaid_counts_the_failed_no_show_fee_under_a_label_that_says_so(fees):
    rows = figures.unpaid_and_overdue(date(2026, 4, 5)).rows
    assert rows[0] == [
        "Payments of sessions and no-show fees failed or pending",
        Decimal("25.00"),
        1,
    ]
