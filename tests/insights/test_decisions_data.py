"""The forecast's, maintenance's and planning's readings of the database, on hand-made
rows (insights/forecasting.py, maintenance_data.py, planning_data.py)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from insights import forecasting, maintenance, maintenance_data, planning_data, rollup
from insights.models import ChargerRisk, HourForecast, SearchRecord, SiteForecast
from operations.models import ChargerBoot
from stations.models import ChargerCommand, Connector, MeterSample, StatusEvent
from tests.insights import small_history
from tests.insights.decisions import session, site_with

pytestmark = pytest.mark.django_db

T = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def test_occupancy_is_the_summarys_occupied_time_over_the_sites_connectors() -> None:
    site, first, second = small_history.site("Occupancy")
    small_history.session(first, at(0.5), 105, "10", 60)  # 10:30-12:15
    small_history.session(second, at(1), 30, "2", 30)  # 11:00-11:30
    rollup.rebuild()
    busy = forecasting.occupancy([site.pk], T, at(3))[site.pk]
    assert busy == {T: 0.5, at(1): 1.5, at(2): 0.25}


def test_full_hours_are_the_time_every_connector_had_a_session() -> None:
    site = site_with(2)
    first, second = Connector.objects.filter(charge_point__site=site).order_by("connector_id")
    session(first, at(0), at(3))
    session(second, at(1), at(1.5))
    # Handed over at 2:00 exactly: never both busy at that instant.
    session(second, at(2), at(2.25))
    session(second, at(2.25), at(4))
    assert planning_data.full_hours([site.pk], T, at(5)) == {site.pk: 0.5 + 1.0}


def test_turned_away_are_remote_starts_refused_or_unanswered() -> None:
    site = site_with(1)
    charger = site.charge_points.get()
    for status, response in [
        ("answered", {"status": "Rejected"}),
        ("answered", {"status": "Accepted"}),
        ("timeout", None),
        ("offline", None),
    ]:
        ChargerCommand.objects.create(
            charge_point=charger,
            action="RemoteStartTransaction",
            status=status,
            response=response,
            created_at=at(1),
        )
    ChargerCommand.objects.create(
        charge_point=charger, action="Reset", status="timeout", created_at=at(1)
    )
    assert planning_data.turned_away([site.pk], T, at(2)) == {site.pk: 3}
    assert planning_data.turned_away([site.pk], at(2), at(3)) == {}


def test_empty_searches_are_counted_per_cell_at_its_centre() -> None:
    for found_free in (False, False, True):
        SearchRecord.objects.create(
            hour=T,
            cell_latitude="59.33",
            cell_longitude="18.06",
            connector_type="",
            found_free=found_free,
        )
    (cell,) = planning_data.empty_searches(T, at(1))
    assert cell.count == 2
    assert cell.point == pytest.approx((59.335, 18.065))


def test_assessment_flags_the_charger_whose_faults_and_boots_rose_and_stores_evidence() -> None:
    site = site_with(1, chargers=4)
    today = date(2026, 6, 1)
    wearing = Connector.objects.filter(charge_point__site=site).order_by("charge_point_id").first()
    for day in range(1, maintenance.RECENT_DAYS + 1):
        moment = datetime.combine(today - timedelta(days=day), datetime.min.time(), UTC)
        StatusEvent.objects.create(
            connector=wearing, status="Faulted", timestamp=moment + timedelta(hours=9)
        )
        StatusEvent.objects.create(
            connector=wearing, status="Faulted", timestamp=moment + timedelta(hours=15)
        )
        ChargerBoot.objects.create(
            charge_point=wearing.charge_point, at=moment + timedelta(hours=16)
        )
    assert maintenance_data.assess_all(today) == 1
    risk = ChargerRisk.objects.get(flagged=True)
    assert risk.charge_point == wearing.charge_point
    assert {e["metric"] for e in risk.evidence} == {maintenance.FAULTS, maintenance.BOOTS}
    faults = next(e for e in risk.evidence if e["metric"] == maintenance.FAULTS)
    assert (faults["recent"], faults["own"], faults["peers"]) == (2.0, 0.0, 0.0)
    assert ChargerRisk.objects.count() == 4
    assert "faults a day 2.00 (own 0.00, model 0.00)" in maintenance_data.describe(risk.evidence)


def test_storing_a_forecast_replaces_the_sites_rows() -> None:
    site = site_with(2)
    start = T - timedelta(weeks=7)
    # Seven weeks with 1.5 of 2 connectors busy every evening hour (17-19 UTC).
    history = {
        start + timedelta(hours=h): 1.5
        for h in range(7 * 168)
        if (start + timedelta(hours=h)).hour in (17, 18)
    }
    for _run in range(2):
        forecasting.store(site, history, T, connectors=2)
    assert HourForecast.objects.filter(site=site).count() == 168
    stored = SiteForecast.objects.get(site=site)
    assert (stored.connectors, stored.weeks_held_back) == (2, 1)
    assert stored.beats_baseline is not None
    # Local (CEST) 19-21 is the busy run.
    assert (stored.busy_from, stored.busy_to) == (19, 21)


def test_power_shortfall_reads_power_samples_in_w_or_kw() -> None:
    site = site_with(1, chargers=3)
    chargers = list(site.charge_points.order_by("charge_point_id"))
    today = date(2026, 6, 1)
    samples = []
    for day in range(1, maintenance.RECENT_DAYS + maintenance.BASELINE_DAYS + 1):
        moment = datetime.combine(today - timedelta(days=day), datetime.min.time(), UTC)
        for charger in chargers:
            weak = charger == chargers[0] and day <= maintenance.RECENT_DAYS
            # 20 kW of 22 as a rule (in W); the wearing one only 11 kW lately (in kW).
            value, unit = ("11", "kW") if weak else ("20000", "W")
            samples.append(
                MeterSample(
                    charge_point=charger,
                    connector_id=1,
                    timestamp=moment + timedelta(hours=12),
                    measurand="Power.Active.Import",
                    unit=unit,
                    value=value,
                    value_decimal=value,
                )
            )
    MeterSample.objects.bulk_create(samples)
    assert maintenance_data.assess_all(today) == 1
    risk = ChargerRisk.objects.get(flagged=True)
    assert risk.charge_point == chargers[0]
    (evidence,) = risk.evidence
    assert evidence["metric"] == maintenance.SHORTFALL
    assert evidence["recent"] == pytest.approx(0.5)
    assert evidence["own"] == pytest.approx(1 - 20 / 22, abs=1e-4)
