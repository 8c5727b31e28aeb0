"""The generated history (insights/history.py) looks like a network's: it is what the
dashboards, the forecast and the benchmark are tried on."""

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from billing.models import SessionCharge
from insights import history, rollup
from insights.models import CustomerKind, RefusedStart, SiteDay
from stations.models import ChargingSession, MeterSample, StatusEvent
from users.models import User

pytestmark = pytest.mark.django_db
END = datetime(2026, 6, 1, tzinfo=UTC)
STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.fixture
def small_history() -> history.History:
    size = history.HistorySize(sites=2, chargers_per_site=3, days=28, drivers=40, fault_rate=0.05)
    return history.generate(seed=7, size=size, end=END)


def test_sessions_follow_the_daily_and_weekly_rhythm(small_history):
    starts = [
        s.astimezone(STOCKHOLM)
        for s in ChargingSession.objects.values_list("started_at", flat=True)
    ]
    by_hour = Counter(start.hour for start in starts)
    assert sum(by_hour[h] for h in (17, 18)) > 5 * sum(by_hour[h] for h in (2, 3))
    weekday = sum(start.isoweekday() <= 5 for start in starts) / 5
    weekend = sum(start.isoweekday() > 5 for start in starts) / 2
    assert weekday > weekend  # per day: commuters make weekdays busier
    assert all(small_history.start <= start < small_history.end for start in starts)


def test_a_connector_holds_one_session_at_a_time_and_each_is_priced_once(small_history):
    previous: dict[int, datetime] = {}
    for session in ChargingSession.objects.order_by("connector_id", "started_at"):
        assert session.stopped_at > session.started_at
        assert session.energy_wh == session.meter_stop_wh - session.meter_start_wh > 0
        if session.connector_id in previous:
            assert session.started_at >= previous[session.connector_id]
        previous[session.connector_id] = session.stopped_at
    assert (
        SessionCharge.objects.count()
        == ChargingSession.objects.count()
        == small_history.counts["sessions"]
    )
    methods = set(SessionCharge.objects.values_list("method", flat=True))
    assert {"card", "wallet", "invoice", "guest"} <= methods
    assert SessionCharge.objects.filter(status=SessionCharge.Status.FAILED).exists()


def test_meter_samples_show_charging_then_idle_as_billing_counts_it(small_history):
    charge = SessionCharge.objects.filter(idle_minutes__gt=30).select_related("session").first()
    samples = list(
        MeterSample.objects.filter(
            session=charge.session, measurand="Energy.Active.Import.Register"
        )
    )
    assert samples[-1].timestamp == charge.session.stopped_at
    assert samples[-1].value_decimal == samples[-2].value_decimal  # the car sat full
    assert int(samples[-1].value_decimal) == charge.session.meter_stop_wh


def test_faults_and_sign_ups_are_spread_over_the_period(small_history):
    assert StatusEvent.objects.filter(status="Faulted").exclude(error_code="NoError").exists()
    joined = list(
        User.objects.filter(email__endswith="@history.example").values_list(
            "date_joined", flat=True
        )
    )
    assert len(joined) == 40
    assert sum(small_history.start <= at < small_history.end for at in joined) >= 25


def test_another_seed_makes_another_history_at_sites_of_its_own(small_history):
    first = list(
        ChargingSession.objects.order_by("started_at").values_list("started_at", "energy_wh")
    )
    again = history.generate(
        seed=8,
        size=history.HistorySize(
            sites=2, chargers_per_site=3, days=28, drivers=40, fault_rate=0.05
        ),
        end=END,
    )
    second = list(
        ChargingSession.objects.filter(charge_point__site__in=again.sites)
        .order_by("started_at")
        .values_list("started_at", "energy_wh")
    )
    assert first != second  # another seed, another history
    assert history.exists(7) and history.exists(8) and not history.exists(9)


def test_some_drivers_are_turned_away_at_each_site_by_a_refused_card(small_history):
    refused = Counter(RefusedStart.objects.values_list("site_id", flat=True))
    assert set(refused) == {site.pk for site in small_history.sites}
    share = sum(refused.values()) / small_history.counts["sessions"]
    assert 0.01 < share < 0.06  # REFUSED_SHARE, 3 % of the starts
    assert sum(refused.values()) == small_history.counts["refused_starts"]


def test_the_revenue_summary_has_fleets_paying_by_invoice_and_staff_charging_free():
    size = history.HistorySize(sites=2, chargers_per_site=2, days=14, drivers=150)
    history.generate(seed=5, size=size, end=END)
    rollup.roll_up()
    days = SiteDay.objects.values("customer_kind", "customer_group", "method").annotate(
        sessions=Sum("sessions"), gross=Sum("gross")
    )
    fleets = [row for row in days if row["customer_kind"] == CustomerKind.FLEET]
    staff = [row for row in days if row["customer_kind"] == CustomerKind.STAFF]
    # The fleet's account pays its drivers' sessions on the monthly invoice.
    assert {row["customer_group"] for row in fleets} == set(history.FLEETS)
    assert {row["method"] for row in fleets} == {"invoice"}
    assert all(row["sessions"] > 0 and row["gross"] > 0 for row in fleets)
    # Staff charge on the free staff tariff: sessions, no money.
    assert [(row["customer_group"], row["method"], row["gross"]) for row in staff] == [
        ("History staff", "none", 0)
    ]
    assert staff[0]["sessions"] > 0
