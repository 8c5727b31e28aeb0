"""Meter sample retention (stations/retention.py) never takes what billing still needs:
samples of an open session, of one not priced yet, or of one whose charge is not final
(billing.charges.samples_still_needed). On SQLite and PostgreSQL alike; on PostgreSQL a
month holding such samples is not dropped until they are released."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import SessionCharge
from stations import partitions, retention
from stations.models import ChargingSession, MeterSample
from stations.partitions import Month
from tests.billing.sessions import charging_site, finished_session, meter_sample, token_of

pytestmark = pytest.mark.django_db

Status = SessionCharge.Status


@pytest.fixture(autouse=True)
def _thirty_days(settings):
    settings.METER_SAMPLE_RETENTION_DAYS = 30


def session_with_sample(started_at, charge_status=None, **fields) -> ChargingSession:
    session = finished_session(charging_site(), token_of(None), started_at=started_at, wh=5_000)
    if fields:
        ChargingSession.objects.filter(pk=session.pk).update(**fields)
    if charge_status:
        SessionCharge.objects.create(
            session=session,
            method=SessionCharge.Method.INVOICE,
            status=charge_status,
            gross=Decimal("5.00"),
            priced_at=session.stopped_at,
        )
    meter_sample(session, "Energy.Active.Import.Register", "3000", "Wh")
    return session


def kept(session: ChargingSession) -> bool:
    return MeterSample.objects.filter(session=session).exists()


def test_samples_older_than_the_limit_go_unless_billing_still_needs_them():
    now = timezone.now()
    long_ago = now - timedelta(days=90)
    paid = session_with_sample(long_ago, Status.PAID)
    invoiced = session_with_sample(long_ago, Status.INVOICED)
    nothing_due = session_with_sample(long_ago, Status.NOTHING_DUE)
    not_priced = session_with_sample(long_ago)
    to_invoice = session_with_sample(long_ago, Status.TO_INVOICE)
    payment_failed = session_with_sample(long_ago, Status.FAILED)
    still_open = session_with_sample(
        long_ago, status=ChargingSession.Status.ACTIVE, stopped_at=None
    )
    recent_paid = session_with_sample(now - timedelta(days=2), Status.PAID)
    without_session = MeterSample.objects.create(
        charge_point=paid.charge_point, connector_id=1, timestamp=long_ago, value="7"
    )

    assert retention.prune_meter_samples(now, batch_size=2) == 4

    assert not any(kept(s) for s in (paid, invoiced, nothing_due))
    assert not MeterSample.objects.filter(pk=without_session.pk).exists()
    assert all(kept(s) for s in (not_priced, to_invoice, payment_failed, still_open, recent_paid))


def test_no_limit_keeps_every_sample(settings):
    settings.METER_SAMPLE_RETENTION_DAYS = 0
    paid = session_with_sample(timezone.now() - timedelta(days=3650), Status.PAID)

    assert retention.prune_meter_samples() == 0
    assert kept(paid)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="partitioning is PostgreSQL's")
def test_a_month_holding_samples_billing_needs_is_not_dropped_until_they_are_billed():
    now = timezone.now()
    old = Month.of(now - timedelta(days=90))
    partitions.create_month("stations_metersample", old)
    paid = session_with_sample(old.start + timedelta(days=1), Status.PAID)
    to_invoice = session_with_sample(old.start + timedelta(days=2), Status.TO_INVOICE)
    month = old.name("stations_metersample")

    assert retention.prune_meter_samples(now) == 1

    assert partitions.months("stations_metersample")[0] == old
    assert kept(to_invoice) and not kept(paid)

    SessionCharge.objects.filter(session=to_invoice).update(status=Status.INVOICED)
    retention.prune_meter_samples(now)

    assert old not in partitions.months("stations_metersample"), month
    assert not kept(to_invoice)
