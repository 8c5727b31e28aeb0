"""The periodic rules: silent chargers go offline, stale sessions close, the log is pruned."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from ocpp.v16 import call

from stations import liveness, retention
from stations.models import (
    ChargePoint,
    ChargingSession,
    ConnectionEvent,
    Connector,
    MeterSample,
    OcppMessage,
    StatusEvent,
)
from stations.ocpp import connections
from tests.charger import now as charger_now

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _windows(settings):
    settings.OCPP_OFFLINE_AFTER_HEARTBEATS = 2
    settings.OCPP_STALE_SESSION_AFTER = 24 * 3600
    settings.OCPP_MESSAGE_LOG_DAYS = 30


def connected_charger(charge_point_id, *, silent_for, heartbeat_interval=60, now):
    return ChargePoint.objects.create(
        charge_point_id=charge_point_id,
        is_connected=True,
        connection_id="conn-1",
        connected_at=now - timedelta(hours=1),
        last_seen_at=now - silent_for,
        heartbeat_interval=heartbeat_interval,
    )


# --- Silent chargers ------------------------------------------------------------------------


def test_charger_silent_longer_than_two_heartbeats_is_marked_offline():
    now = timezone.now()
    connected_charger("CP-SILENT", silent_for=timedelta(seconds=121), now=now)

    assert liveness.mark_silent_chargers_offline(now) == 1

    charge_point = ChargePoint.objects.get(charge_point_id="CP-SILENT")
    assert not charge_point.is_connected
    assert charge_point.disconnected_at == now
    assert not charge_point.is_online(now)


def test_silent_charger_marked_offline_and_speaking_again_is_in_the_online_history():
    """Uptime reads ConnectionEvent: the liveness rule and a later frame both leave a row."""
    now = timezone.now()
    connected_charger("CP-SILENT-BACK", silent_for=timedelta(seconds=121), now=now)
    liveness.mark_silent_chargers_offline(now)

    assert connections.mark_seen("CP-SILENT-BACK", "conn-1", now + timedelta(seconds=5))

    history = ConnectionEvent.objects.filter(charge_point__charge_point_id="CP-SILENT-BACK")
    assert list(history.order_by("at").values_list("kind", "at")) == [
        ("disconnected", now),
        ("connected", now + timedelta(seconds=5)),
    ]
    # An ordinary frame from a connected charger adds nothing.
    assert connections.mark_seen("CP-SILENT-BACK", "conn-1", now + timedelta(seconds=9))
    assert history.count() == 2


def test_charger_heard_just_inside_the_window_stays_connected():
    now = timezone.now()
    connected_charger("CP-JUST-IN", silent_for=timedelta(seconds=120), now=now)
    connected_charger("CP-WELL-IN", silent_for=timedelta(seconds=119), now=now)

    assert liveness.mark_silent_chargers_offline(now) == 0

    for charge_point in ChargePoint.objects.all():
        assert charge_point.is_connected
        # The task and the read-time rule agree on the boundary.
        assert charge_point.is_online(now)


def test_offline_window_follows_each_chargers_own_heartbeat_interval():
    now = timezone.now()
    connected_charger("CP-FAST", silent_for=timedelta(seconds=200), heartbeat_interval=60, now=now)
    connected_charger("CP-SLOW", silent_for=timedelta(seconds=200), heartbeat_interval=300, now=now)

    liveness.mark_silent_chargers_offline(now)

    states = dict(ChargePoint.objects.values_list("charge_point_id", "is_connected"))
    assert states == {"CP-FAST": False, "CP-SLOW": True}


def test_offline_factor_comes_from_settings(settings):
    settings.OCPP_OFFLINE_AFTER_HEARTBEATS = 3
    now = timezone.now()
    connected_charger("CP-FACTOR", silent_for=timedelta(seconds=150), now=now)

    assert liveness.mark_silent_chargers_offline(now) == 0
    assert liveness.mark_silent_chargers_offline(now + timedelta(seconds=31)) == 1


def test_already_disconnected_charger_keeps_its_disconnect_time():
    now = timezone.now()
    gone_at = now - timedelta(days=2)
    ChargePoint.objects.create(
        charge_point_id="CP-GONE",
        is_connected=False,
        last_seen_at=now - timedelta(days=3),
        disconnected_at=gone_at,
    )

    assert liveness.mark_silent_chargers_offline(now) == 0
    assert ChargePoint.objects.get(charge_point_id="CP-GONE").disconnected_at == gone_at


# --- Stale sessions -------------------------------------------------------------------------


def active_session(charge_point_id, *, started_ago, now, meter_start=1000, connector_id=1):
    charge_point = ChargePoint.objects.create(charge_point_id=charge_point_id)
    connector = Connector.objects.create(charge_point=charge_point, connector_id=connector_id)
    started = now - started_ago
    return ChargingSession.objects.create(
        charge_point=charge_point,
        connector=connector,
        id_tag="TAG-1",
        started_at=started,
        meter_start_wh=meter_start,
        created_at=started,
    )


def add_sample(session, wh, received_ago, now):
    MeterSample.objects.create(
        charge_point=session.charge_point,
        connector_id=session.connector.connector_id,
        session=session,
        timestamp=now - received_ago,
        value=str(wh),
        value_decimal=wh,
        received_at=now - received_ago,
    )


def test_session_without_word_for_longer_than_the_window_is_closed_by_the_stale_rule():
    now = timezone.now()
    session = active_session("CP-STALE", started_ago=timedelta(hours=30), now=now)
    add_sample(session, 5000, timedelta(hours=24, seconds=1), now)

    assert liveness.close_stale_sessions(now) == 1

    session.refresh_from_db()
    assert session.status == ChargingSession.Status.COMPLETED
    assert session.closed_by == "stale: no word from the charger for 24 h"
    # Closed as of the last word, with the last reading we have.
    assert session.stopped_at == now - timedelta(hours=24, seconds=1)
    assert session.meter_stop_wh == 5000
    assert session.energy_wh == 4000


def test_session_with_a_meter_sample_just_inside_the_window_stays_open():
    now = timezone.now()
    session = active_session("CP-FRESH-SAMPLE", started_ago=timedelta(hours=30), now=now)
    add_sample(session, 5000, timedelta(hours=24), now)

    assert liveness.close_stale_sessions(now) == 0
    session.refresh_from_db()
    assert session.status == ChargingSession.Status.ACTIVE


def test_session_started_just_inside_the_window_stays_open_and_just_outside_is_closed():
    now = timezone.now()
    inside = active_session("CP-IN", started_ago=timedelta(hours=24), now=now)
    outside = active_session("CP-OUT", started_ago=timedelta(hours=24, seconds=1), now=now)

    assert liveness.close_stale_sessions(now) == 1

    inside.refresh_from_db()
    outside.refresh_from_db()
    assert inside.status == ChargingSession.Status.ACTIVE
    assert outside.status == ChargingSession.Status.COMPLETED
    assert outside.energy_wh == 0  # no reading at all: meter stop is the meter start


def test_status_notification_on_the_sessions_connector_keeps_it_open():
    now = timezone.now()
    session = active_session("CP-STATUS", started_ago=timedelta(hours=30), now=now)
    StatusEvent.objects.create(
        connector=session.connector,
        status="SuspendedEV",
        timestamp=now - timedelta(hours=1),
        received_at=now - timedelta(hours=1),
    )

    assert liveness.close_stale_sessions(now) == 0


def test_status_of_another_connector_does_not_keep_a_session_open():
    now = timezone.now()
    session = active_session("CP-OTHER", started_ago=timedelta(hours=30), now=now)
    other = Connector.objects.create(charge_point=session.charge_point, connector_id=2)
    StatusEvent.objects.create(connector=other, status="Charging", timestamp=now, received_at=now)

    assert liveness.close_stale_sessions(now) == 1


def test_completed_sessions_are_not_touched_by_the_stale_rule():
    now = timezone.now()
    session = active_session("CP-DONE", started_ago=timedelta(days=3), now=now)
    ChargingSession.objects.filter(pk=session.pk).update(
        status=ChargingSession.Status.COMPLETED, closed_by="charger", energy_wh=42
    )

    assert liveness.close_stale_sessions(now) == 0
    session.refresh_from_db()
    assert (session.closed_by, session.energy_wh) == ("charger", 42)


def test_stale_window_comes_from_settings(settings):
    settings.OCPP_STALE_SESSION_AFTER = 3600
    now = timezone.now()
    session = active_session("CP-HOUR", started_ago=timedelta(hours=2), now=now)

    liveness.close_stale_sessions(now)

    session.refresh_from_db()
    assert session.closed_by == "stale: no word from the charger for 1 h"


async def test_stop_transaction_arriving_after_the_stale_rule_closed_the_session_overwrites_it(
    charger,
):
    async with charger("CP-STALE-LATE-STOP") as cp:
        await cp.boot()
        started = await cp.call(
            call.StartTransaction(
                connector_id=1, id_tag="TAG-LATE", meter_start=1000, timestamp=charger_now()
            )
        )
        transaction_id = started.transaction_id
        # The charger then went quiet for more than a day (as if offline).
        long_ago = timezone.now() - timedelta(hours=25)
        await sync_to_async(ChargingSession.objects.filter(pk=transaction_id).update)(
            created_at=long_ago
        )
        await sync_to_async(StatusEvent.objects.update)(received_at=long_ago)

        assert await sync_to_async(liveness.close_stale_sessions)() == 1
        session = await sync_to_async(ChargingSession.objects.get)(pk=transaction_id)
        assert session.status == ChargingSession.Status.COMPLETED
        assert session.closed_by.startswith("stale:")
        assert session.energy_wh == 0

        # It comes back and delivers the StopTransaction it kept (OCPP 1.6 §4.10).
        await cp.call(
            call.StopTransaction(
                meter_stop=8500,
                timestamp=charger_now(),
                transaction_id=transaction_id,
                reason="EVDisconnected",
            )
        )

    session = await sync_to_async(ChargingSession.objects.get)(pk=transaction_id)
    assert session.closed_by == "charger"
    assert session.meter_stop_wh == 8500
    assert session.energy_wh == 7500
    assert session.stop_reason == "EVDisconnected"


# --- Message log retention ------------------------------------------------------------------


def log_entry(age, now):
    return OcppMessage.objects.create(
        charge_point_id="CP-LOG",
        direction="in",
        message_type=2,
        action="Heartbeat",
        frame='[2,"1","Heartbeat",{}]',
        created_at=now - age,
    )


def test_message_log_older_than_retention_is_deleted_in_batches():
    now = timezone.now()
    for _ in range(5):
        log_entry(timedelta(days=30, seconds=1), now)
    kept_at_boundary = log_entry(timedelta(days=30), now)
    kept_recent = log_entry(timedelta(days=1), now)

    assert retention.prune_message_log(now, batch_size=2) == 5

    assert set(OcppMessage.objects.values_list("pk", flat=True)) == {
        kept_at_boundary.pk,
        kept_recent.pk,
    }


def test_message_log_retention_of_zero_days_keeps_everything(settings):
    settings.OCPP_MESSAGE_LOG_DAYS = 0
    now = timezone.now()
    log_entry(timedelta(days=3650), now)

    assert retention.prune_message_log(now) == 0
    assert OcppMessage.objects.count() == 1


# --- The schedule ---------------------------------------------------------------------------


def test_every_scheduled_task_exists_including_partitions_and_sample_pruning():
    from chargehub.celery import app

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}

    assert {"stations.tasks.create_partitions", "stations.tasks.prune_meter_samples"} <= scheduled
    # The backstops for what a lost task or a missed signal leaves: billing, tickets, outbox.
    assert {
        "billing.tasks.settle_missed_sessions",
        "operations.tasks.sweep",
        "notifications.tasks.deliver_pending",
    } <= scheduled
    assert scheduled <= set(app.tasks)
