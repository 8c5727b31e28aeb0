"""billing.price_filter and billing.tariffs implement the same selection rule twice (SQL
over every connector, and Python for one): on generated tariffs, assignments, customer
groups, validity windows and time-of-use periods, the price filter keeps a connector
exactly when the energy price tariff_for picks there, in force then, is at most the
maximum; and tariffs.current_prices (the lists' prices, many connectors at once) gives
each connector that same price."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import tariffs
from billing.models import CustomerGroup, Tariff, TariffAssignment, TimeOfUsePeriod
from billing.price_filter import connectors_priced_at_most
from stations.models import ChargePoint, Connector, Site
from users.models import User

# A Monday noon in winter; windows and moments are a few hours apart around it, so
# that validity edges, time-of-use periods and midnight all fall between them.
BASE = datetime(2026, 1, 12, 11, tzinfo=UTC)
HOURS = st.integers(min_value=-30, max_value=30)
PRICES = st.decimals(min_value=0, max_value=6, places=2)


@dataclass(frozen=True)
class Period:
    weekdays: str
    start: time
    end: time
    price_per_kwh: Decimal | None


@dataclass(frozen=True)
class TariffSpec:
    price_per_kwh: Decimal
    vat_rate: Decimal
    window: tuple[int | None, int | None]
    periods: tuple[Period, ...]


@dataclass(frozen=True)
class AssignmentSpec:
    tariff: int
    level: str
    place: int  # index among the charge points or connectors
    group: int | None
    window: tuple[int | None, int | None]


@dataclass(frozen=True)
class World:
    time_zone: str
    connectors_per_charge_point: tuple[int, ...]
    tariffs: tuple[TariffSpec, ...]
    assignments: tuple[AssignmentSpec, ...]
    groups: int
    driver_groups: frozenset[int]
    moments: tuple[int, ...]
    max_prices: tuple[Decimal, ...]


@st.composite
def windows(draw) -> tuple[int | None, int | None]:
    start = draw(st.none() | HOURS)
    end = draw(st.none() | HOURS)
    if start is not None and end is not None and start >= end:
        start, end = end, start if start > end else start + 1
    return start, end


periods = st.builds(
    Period,
    weekdays=st.sets(st.sampled_from("1234567"), min_size=1).map(
        lambda days: "".join(sorted(days))
    ),
    start=st.sampled_from([time(0), time(6), time(10, 30), time(22)]),
    end=st.sampled_from([time(0), time(6), time(12), time(23, 59)]),
    price_per_kwh=st.none() | PRICES,
)
tariff_specs = st.builds(
    TariffSpec,
    price_per_kwh=PRICES,
    vat_rate=st.sampled_from([Decimal(0), Decimal(12), Decimal(25)]),
    window=windows(),
    periods=st.lists(periods, max_size=2).map(tuple),
)


@st.composite
def worlds(draw) -> World:
    connectors = tuple(draw(st.lists(st.integers(1, 2), min_size=1, max_size=2)))
    tariff_list = tuple(draw(st.lists(tariff_specs, min_size=1, max_size=4)))
    groups = draw(st.integers(0, 2))
    assignments = draw(
        st.lists(
            st.builds(
                AssignmentSpec,
                tariff=st.integers(0, len(tariff_list) - 1),
                level=st.sampled_from(["site", "charge_point", "connector"]),
                place=st.integers(0, 3),
                group=st.none() | st.integers(0, groups - 1) if groups else st.none(),
                window=windows(),
            ),
            max_size=6,
        )
    )
    return World(
        time_zone=draw(st.sampled_from(["Europe/Stockholm", "UTC", "America/New_York"])),
        connectors_per_charge_point=connectors,
        tariffs=tariff_list,
        assignments=tuple(assignments),
        groups=groups,
        driver_groups=frozenset(draw(st.sets(st.integers(0, max(groups - 1, 0))))),
        moments=tuple(draw(st.lists(HOURS, min_size=1, max_size=3))),
        max_prices=tuple(draw(st.lists(PRICES, min_size=1, max_size=2))),
    )


def at(hours: int | None) -> datetime | None:
    return None if hours is None else BASE + timedelta(hours=hours)


def build(world: World) -> tuple[list[Connector], User]:
    site = Site.objects.create(name="Generated", time_zone=world.time_zone)
    charge_points, connectors = [], []
    for number, count in enumerate(world.connectors_per_charge_point, start=1):
        charge_point = ChargePoint.objects.create(charge_point_id=f"GEN-{number}", site=site)
        charge_points.append(charge_point)
        for connector_id in range(1, count + 1):
            connectors.append(
                Connector.objects.create(charge_point=charge_point, connector_id=connector_id)
            )
    tariff_rows = []
    for number, spec in enumerate(world.tariffs):
        tariff = Tariff.objects.create(
            name=f"T{number}",
            price_per_kwh=spec.price_per_kwh,
            vat_rate=spec.vat_rate,
            valid_from=at(spec.window[0]),
            valid_until=at(spec.window[1]),
        )
        for position, period in enumerate(spec.periods):
            TimeOfUsePeriod.objects.create(
                tariff=tariff,
                position=position,
                name=f"P{position}",
                weekdays=period.weekdays,
                start_time=period.start,
                end_time=period.end,
                price_per_kwh=period.price_per_kwh,
            )
        tariff_rows.append(tariff)
    groups = [
        CustomerGroup.objects.create(name=f"G{number}", kind=CustomerGroup.Kind.STAFF)
        for number in range(world.groups)
    ]
    driver = User.objects.create_user("generated@example.com", "pw")
    for number in world.driver_groups:
        if number < len(groups):
            groups[number].members.add(driver)
    for spec in world.assignments:
        place = {
            "site": {"site": site},
            "charge_point": {"charge_point": charge_points[spec.place % len(charge_points)]},
            "connector": {"connector": connectors[spec.place % len(connectors)]},
        }[spec.level]
        TariffAssignment.objects.create(
            tariff=tariff_rows[spec.tariff],
            customer_group=groups[spec.group] if spec.group is not None else None,
            valid_from=at(spec.window[0]),
            valid_until=at(spec.window[1]),
            **place,
        )
    return connectors, driver


def energy_price_in_force(connector: Connector, user: User | None, moment: datetime):
    """The price per kWh incl. VAT of the tariff tariff_for picks, in force at `moment`."""
    preview = tariffs.price_preview(connector, user, moment)
    if preview is None:
        return None
    assert preview.tariff == tariffs.tariff_for(connector, user, moment).name
    if preview.current_period:
        [period] = [p for p in preview.time_of_use if p.name == preview.current_period]
        return period.price_per_kwh.gross
    return preview.price_per_kwh.gross


class Generated(Exception):
    """Rolls one example's world back."""


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds())
def test_the_price_filter_keeps_a_connector_iff_tariff_for_prices_it_at_most_the_max(world):
    try:
        with transaction.atomic():
            connectors, driver = build(world)
            for hours in world.moments:
                moment = at(hours)
                for user in (None, driver):
                    prices = {c.pk: energy_price_in_force(c, user, moment) for c in connectors}
                    # The lists' many-connector path answers as the one-connector path.
                    now = tariffs.current_prices(connectors, user, moment)
                    assert {pk: p and p.per_kwh.gross for pk, p in now.items()} == prices
                    for max_price in world.max_prices:
                        kept = set(
                            Connector.objects.filter(
                                connectors_priced_at_most(max_price, user, moment)
                            ).values_list("pk", flat=True)
                        )
                        expected = {
                            pk
                            for pk, price in prices.items()
                            if price is not None and price <= max_price
                        }
                        assert kept == expected, (user, moment, max_price, prices)
            raise Generated
    except Generated:
        pass
