"""A driver's cheap-hour plan on a site under smart charging: stored with the start
(charging/cheap_hours.py), claimed by the session, and read by the site's allocation as
the connector's cap now (stations/load_balancing.py)."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
from charging import cheap_hours
from stations import load_balancing
from stations.models import (
    ChargePoint,
    ChargingPlan,
    ChargingSession,
    Connector,
    ConnectorAllocation,
    Site,
)
from stations.smart_charging import Allocation, allocate
from tests.billing.sessions import token_of
from users.models import IdToken, User

pytestmark = pytest.mark.django_db

FULL = Decimal("15.9")  # 11 kW on three phases at 230 V, in whole tenths of an amp


@dataclass
class World:
    site: Site
    planned: Connector
    other: Connector
    driver: User
    token: IdToken
    cheap_from: datetime  # the first cheap hour ahead (the tariff's, in UTC)


def world(grid_amps: int, now: datetime) -> World:
    """A managed site with two 11 kW chargers, cheap between three and five hours from
    now (3 SEK/kWh, 1 SEK then), whenever the test runs."""
    site = Site.objects.create(name="Planned", time_zone="UTC", grid_limit_amps=grid_amps)
    cheap_from = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    tariff = Tariff.objects.create(name="Cheap soon", price_per_kwh=Decimal(3))
    TimeOfUsePeriod.objects.create(
        tariff=tariff,
        name="Cheap",
        start_time=time(cheap_from.hour),
        end_time=time((cheap_from + timedelta(hours=2)).hour),
        price_per_kwh=Decimal(1),
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    connectors = []
    for name in ("PLAN-A", "PLAN-B"):
        # Online, and heard from often enough for the runs hours ahead below.
        charge_point = ChargePoint.objects.create(
            charge_point_id=name,
            site=site,
            is_connected=True,
            last_seen_at=now,
            heartbeat_interval=86_400,
        )
        connectors.append(
            Connector.objects.create(
                charge_point=charge_point, connector_id=1, max_power_kw=Decimal(11)
            )
        )
    driver = User.objects.create_user("planner@example.com", "pw")
    return World(site, connectors[0], connectors[1], driver, token_of(driver), cheap_from)


def running(connector: Connector, id_tag: str, at: datetime) -> ChargingSession:
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=id_tag,
        started_at=at,
        meter_start_wh=0,
    )


def plan(w: World, now: datetime, kwh: str = "11") -> ChargingPlan:
    departure = now + timedelta(hours=20)
    periods = cheap_hours.plan_for(w.planned, w.driver, now, departure, Decimal(kwh))
    return cheap_hours.record(w.planned, w.token.uid, periods, departure, Decimal(kwh))


def outcome_at(site: Site, at: datetime) -> Allocation:
    """The site's allocation at `at`, as a run makes it (nothing sent)."""
    slots = load_balancing.read_site(site, at)
    limit = load_balancing.site_limit(site, site.grid_limit_amps)
    return allocate(limit, load_balancing.demands(site, slots, at, limit), at)


def limits_at(site: Site, at: datetime) -> dict[str, Decimal]:
    return {key[0]: amps for key, amps in outcome_at(site, at).limits.items()}


def offline(w: World) -> None:
    """The chargers gone: a run stores its outcome and sends nothing."""
    ChargePoint.objects.filter(site=w.site).update(is_connected=False)


def test_outside_its_planned_hours_the_car_waits_at_0_a_and_the_others_get_the_room():
    now = timezone.now()
    w = world(20, now)
    plan(w, now)
    running(w.planned, w.token.uid, now)
    running(w.other, "SOMEONE", now)

    assert limits_at(w.site, now) == {"PLAN-A": Decimal(0), "PLAN-B": FULL}
    # In its cheap hour it takes its share again: the site's 20 A halved.
    assert limits_at(w.site, w.cheap_from + timedelta(minutes=1)) == {
        "PLAN-A": Decimal(10),
        "PLAN-B": Decimal(10),
    }
    # Paused by its plan, not waiting for room: its driver is not told it waits.
    assert outcome_at(w.site, now).waiting == []


def test_the_plan_meets_the_departure_energy_when_the_site_has_room():
    now = timezone.now()
    w = world(63, now)
    stored = plan(w, now, kwh="11")
    running(w.planned, w.token.uid, now)
    running(w.other, "SOMEONE", now)

    delivered = Decimal(0)
    for period in stored.periods:
        start, end = (datetime.fromisoformat(period[k]) for k in ("start", "end"))
        amps = limits_at(w.site, start)["PLAN-A"]
        delivered += amps * 230 * 3 * Decimal((end - start).total_seconds()) / 3600
        if amps:
            assert w.cheap_from <= start < w.cheap_from + timedelta(hours=2)
    assert delivered >= 11_000
    assert delivered < 11_000 + 230 * 3 * 6 / 4  # at most a quarter at the minimum more


def test_a_run_marks_when_the_plan_changes_next_and_the_minute_task_finds_the_site():
    now = timezone.now()
    w = world(20, now)
    stored = plan(w, now)
    session = running(w.planned, w.token.uid, now)
    offline(w)

    load_balancing.allocate_site(w.site, now)

    stored.refresh_from_db()
    assert stored.session == session
    assert stored.next_change_at == w.cheap_from
    # Staff see the plan's cap beside the allocation (the site's admin page).
    assert ConnectorAllocation.objects.get(connector=w.planned).cap_amps == 0
    staff = User.objects.create_superuser("plan-staff@example.com", "x" * 20)
    browser = Client()
    browser.force_login(staff)
    page = browser.get(reverse("admin:stations_site_change", args=[w.site.pk])).content.decode()
    assert "<td>PLAN-A#1</td><td>0</td><td>0.0</td><td>0.0</td>" in page
    assert load_balancing.plans_changing(now) == []
    assert load_balancing.plans_changing(w.cheap_from) == [w.site.pk]
    # A run at the boundary moves the mark to the plan's next one.
    load_balancing.allocate_site(w.site, w.cheap_from)
    stored.refresh_from_db()
    assert stored.next_change_at > w.cheap_from
    # A session that ended is not run for.
    ChargingSession.objects.filter(pk=session.pk).update(status=ChargingSession.Status.COMPLETED)
    assert load_balancing.plans_changing(stored.next_change_at) == []


def test_a_plan_is_claimed_only_by_a_session_for_its_token_soon_after_it_was_made():
    now = timezone.now()
    w = world(20, now)
    stale = plan(w, now)
    ChargingPlan.objects.filter(pk=stale.pk).update(
        created_at=now - load_balancing.PLAN_CLAIM_WINDOW - timedelta(seconds=1)
    )
    fresh = plan(w, now)
    stranger = running(w.planned, "NOT-THE-DRIVER", now)

    assert load_balancing.claim_plans([stranger], now) == {}
    ChargingSession.objects.filter(pk=stranger.pk).update(status=ChargingSession.Status.COMPLETED)
    mine = running(w.planned, w.token.uid, now)
    assert load_balancing.claim_plans([mine], now) == {mine.pk: fresh}
    assert ChargingPlan.objects.get(pk=stale.pk).session is None
