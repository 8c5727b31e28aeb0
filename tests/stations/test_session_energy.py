"""stations/sessions.py: a session's energy by its one rule, and its lifecycle.

The rule (the module's docstring): the steps between consecutive readings (start value,
the register samples in time order, stop value), a step forward in full, a step
backward as zero. Pure cases first, then what the database holds.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from stations import sessions
from stations.liveness import close_stale_sessions
from stations.models import ChargePoint, ChargingSession, Connector, MeterSample
from stations.ocpp import v16

START = datetime(2026, 3, 10, 8, tzinfo=UTC)


def D(value: str | int) -> Decimal:
    return Decimal(value)


def at(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


def energy(*readings: tuple[int, int | str]) -> Decimal:
    """The energy of (minute, Wh) readings by the rule."""
    return sessions.energy_wh(sessions.energy_steps([(at(m), D(wh)) for m, wh in readings]))


# --- The rule, pure ----------------------------------------------------------------------


def test_energy_is_the_sum_of_the_steps_between_readings():
    assert energy((0, 1_000), (10, 3_000), (20, 5_500)) == D(4_500)


def test_a_meter_reset_counts_zero_for_the_step_back_and_counts_on_from_the_new_reading():
    # 1000 -> 3000 -> 5000: 4000; reset to 200; 200 -> 1200 -> 1700: 1500.
    assert energy((0, 1_000), (10, 3_000), (20, 5_000), (30, 200), (40, 1_200), (50, 1_700)) == D(
        5_500
    )


def test_a_register_rollover_counts_on_from_the_wrapped_reading():
    assert energy((0, 999_999_000), (10, 999_999_900), (20, 300), (30, 800)) == D(900 + 500)


def test_a_reading_that_dips_and_recovers_counts_its_recovery():
    assert energy((0, 5_000), (10, 4_990), (20, 5_010)) == D(20)


def test_without_a_stop_value_the_energy_runs_to_the_last_reading():
    assert energy((0, 2_000), (15, 4_000), (30, 6_250)) == D(4_250)


def test_a_lone_start_value_is_no_energy():
    assert energy((0, 2_000)) == D(0)


def test_readings_are_counted_in_time_order():
    assert energy((20, 5_000), (0, 1_000), (10, 3_000)) == D(4_000)


def test_steps_tell_pricing_when_the_energy_flowed():
    steps = sessions.energy_steps([(at(0), D(100)), (at(10), D(50)), (at(20), D(450))])
    assert steps == (
        sessions.EnergyStep(at(0), at(10), D(0)),
        sessions.EnergyStep(at(10), at(20), D(400)),
    )
    assert sessions.energy_kwh(steps) == D("0.400")


# --- What the database holds -------------------------------------------------------------


@pytest.fixture
def connector(db) -> Connector:
    charge_point = ChargePoint.objects.create(charge_point_id="ENERGY-1")
    return Connector.objects.create(charge_point=charge_point, connector_id=1)


def sample(session: ChargingSession, minutes: int, value: str, **fields: object) -> None:
    """A meter sample of the session, the defaults as OCPP 1.6 §7.45 gives them."""
    MeterSample.objects.create(
        charge_point=session.charge_point,
        connector_id=session.connector.connector_id,
        session=session,
        timestamp=at(minutes),
        value=value,
        value_decimal=D(value) if fields.get("format", "Raw") == "Raw" else None,
        **fields,
    )


def opened(connector: Connector, meter_start_wh: int = 1_000) -> ChargingSession:
    session, created = sessions.open_session(connector, "TAG-1", START, meter_start_wh)
    assert created
    return session


def test_only_the_total_of_the_energy_register_counts(connector):
    session = opened(connector)
    sample(session, 10, "3000")
    sample(session, 20, "4.5", unit="kWh")  # 4500 Wh
    sample(session, 15, "99000", measurand="Power.Active.Import", unit="W")
    sample(session, 16, "80", measurand="SoC", unit="Percent")
    sample(session, 17, "500", phase="L1")  # a phase, not the total
    sample(session, 18, "90000", location="Inlet")  # before the charger's own losses
    sample(session, 19, "0000ABCD", format="SignedData")
    MeterSample.objects.create(  # its time was not believed: its place in the order is not
        charge_point=session.charge_point,
        connector_id=1,
        session=session,
        timestamp=at(21),
        value="50",
        value_decimal=D(50),
        clock_suspect=True,
    )
    sample(session, 70, "99999")  # after the stop

    sessions.close_session(session, at(60), 6_000, "Local")

    assert sessions.meter_readings(session) == [
        (at(0), D(1_000)),
        (at(10), D(3_000)),
        (at(20), D(4_500)),
        (at(60), D(6_000)),
    ]
    session.refresh_from_db()
    assert session.energy_wh == 5_000


def test_a_stop_after_a_meter_reset_stores_the_energy_of_every_step(connector):
    session = opened(connector)
    for minutes, wh in ((10, "3000"), (20, "5000"), (30, "200"), (40, "1200")):
        sample(session, minutes, wh)

    assert sessions.close_session(session, at(50), 1_700, "EVDisconnected")

    session.refresh_from_db()
    # Not meterStop - meterStart (700 Wh): 2000 + 2000 + 0 + 1000 + 500.
    assert (session.energy_wh, session.meter_stop_wh) == (5_500, 1_700)
    assert (session.status, session.closed_by, session.stop_reason) == (
        ChargingSession.Status.COMPLETED,
        "charger",
        "EVDisconnected",
    )


def test_a_session_closed_without_a_stop_value_stores_the_energy_to_its_last_reading(connector):
    session = opened(connector, meter_start_wh=2_000)
    sample(session, 15, "4000")
    sample(session, 30, "6250")

    sessions.close_session(session, at(40), None, "Other")

    session.refresh_from_db()
    assert (session.energy_wh, session.meter_stop_wh) == (4_250, None)


def test_a_repeated_stop_changes_nothing(connector):
    session = opened(connector)
    assert sessions.close_session(session, at(30), 3_000, "Local")
    assert not sessions.close_session(session, at(45), 9_000, "Remote")
    session.refresh_from_db()
    assert (session.stopped_at, session.meter_stop_wh, session.energy_wh) == (at(30), 3_000, 2_000)


def test_stop_transaction_after_a_meter_reset_stores_the_energy_of_the_rule(connector):
    """What v16.stop_transaction leaves: its transactionData are readings like any other."""
    session = opened(connector)
    charge_point = connector.charge_point

    def reading(minutes: int, wh: str) -> dict:
        return {
            "timestamp": at(minutes).isoformat(),
            "sampledValue": [{"value": wh, "context": "Sample.Periodic"}],
        }

    payload = {
        "transactionId": session.pk,
        "meterStop": 1_700,
        "timestamp": at(50).isoformat(),
        "reason": "EVDisconnected",
        "transactionData": [reading(20, "5000"), reading(30, "200")],
    }
    v16.handle(charge_point, "StopTransaction", payload, at(50))

    session.refresh_from_db()
    # 1000 -> 5000: 4000; reset to 200; 200 -> 1700: 1500.
    assert session.energy_wh == 5_500


def test_a_new_start_on_the_connector_supersedes_the_open_session(connector):
    first = opened(connector)
    sample(first, 10, "2500")

    second, created = sessions.open_session(connector, "TAG-2", at(20), 2_600)

    assert created
    first.refresh_from_db()
    assert first.closed_by == "superseded by a new transaction on the connector"
    assert (first.stopped_at, first.meter_stop_wh, first.energy_wh) == (at(20), 2_500, 1_500)
    assert second.status == ChargingSession.Status.ACTIVE


def test_the_same_start_twice_is_the_same_session(connector):
    first = opened(connector)
    again, created = sessions.open_session(connector, "TAG-1", START, 1_000)
    assert (again.pk, created) == (first.pk, False)
    assert ChargingSession.objects.count() == 1


def test_a_stale_session_after_a_reset_keeps_the_energy_of_every_step(connector, settings):
    session = opened(connector)
    sample(session, 10, "4000")
    sample(session, 20, "500")
    sample(session, 30, "900")
    ChargingSession.objects.filter(pk=session.pk).update(created_at=at(0))
    MeterSample.objects.update(received_at=at(30))

    assert close_stale_sessions(
        now=at(30) + timedelta(seconds=settings.OCPP_STALE_SESSION_AFTER + 1)
    )

    session.refresh_from_db()
    assert session.closed_by.startswith("stale")
    # 1000 -> 4000: 3000; reset; 500 -> 900: 400. Not 900 - 1000 (below zero: 0).
    assert (session.meter_stop_wh, session.energy_wh) == (900, 3_400)


def test_a_charger_stop_after_a_rule_closed_the_session_replaces_its_figures(connector):
    session = opened(connector)
    sample(session, 10, "2000")
    sessions.close_session_by_rule(session, "stale: test", at(10))

    assert sessions.close_session(session, at(40), 4_000, "PowerLoss")

    session.refresh_from_db()
    assert (session.closed_by, session.stopped_at, session.energy_wh) == ("charger", at(40), 3_000)
