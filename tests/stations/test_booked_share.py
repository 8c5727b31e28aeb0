"""A booked connector's share of a managed site is held for its booker from the slot's
start (stations/bookings.py read by stations/load_balancing.py), before any session."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from stations import load_balancing
from stations.models import (
    Booking,
    ChargePoint,
    ChargerCommand,
    Connector,
    ConnectorAllocation,
    Site,
)
from users.models import IdToken, User

pytestmark = pytest.mark.django_db


def managed_site() -> tuple[Site, Connector, Connector]:
    site = Site.objects.create(name="Booked share", grid_limit_amps=Decimal(32), phases=3)
    # Online (a booked connector on an offline charger is counted as it was).
    charge_point = ChargePoint.objects.create(
        charge_point_id="SHARE-CP-1", site=site, is_connected=True, last_seen_at=timezone.now()
    )
    first, second = (
        Connector.objects.create(
            charge_point=charge_point, connector_id=n, max_power_kw=Decimal(22)
        )
        for n in (1, 2)
    )
    return site, first, second


def book_now(connector: Connector) -> Booking:
    driver = User.objects.create_user("share@example.com", "pw")
    now = timezone.now()
    return Booking.objects.create(
        connector=connector,
        user=driver,
        id_token=IdToken.objects.create(uid="SHARE-1", owner=driver),
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(minutes=55),
    )


def limits(site: Site) -> dict[int, Decimal]:
    return dict(
        ConnectorAllocation.objects.filter(connector__charge_point__site=site).values_list(
            "connector__connector_id", "limit_amps"
        )
    )


def test_a_slot_in_force_holds_a_share_and_sends_nothing_before_its_session(settings):
    settings.SMART_CHARGING_DEFAULT_AMPS = Decimal(0)
    site, first, _second = managed_site()
    load_balancing.allocate_site(site)
    assert limits(site) == {1: Decimal(0), 2: Decimal(0)}

    book_now(first)
    load_balancing.allocate_site(site)

    assert limits(site)[1] >= settings.SMART_CHARGING_MIN_AMPS
    assert limits(site)[2] == 0
    assert not ChargerCommand.objects.exists()


def test_a_slot_not_started_yet_holds_nothing(settings):
    settings.SMART_CHARGING_DEFAULT_AMPS = Decimal(0)
    site, first, _second = managed_site()
    booking = book_now(first)
    Booking.objects.filter(pk=booking.pk).update(
        starts_at=booking.starts_at + timedelta(hours=1),
        ends_at=booking.ends_at + timedelta(hours=1),
    )

    load_balancing.allocate_site(site)

    assert limits(site)[1] == 0
