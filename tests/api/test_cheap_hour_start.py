"""Start with a departure time and the energy needed: the charger gets the cheapest
schedule with the start (charging/cheap_hours.py), through a real WebSocket."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
from stations.models import ChargePoint, Connector, Site
from tests.billing.sessions import token_of

START = "/api/v1/me/sessions/start/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("wish", "message"),
    [
        ({"energy_kwh": "10"}, "both the departure time and the energy"),
        ({"departure_time": "2020-01-01T07:00:00Z", "energy_kwh": "10"}, "already passed"),
        ({"departure_time": "+3 days", "energy_kwh": "10"}, "up to 48 hours"),
        ({"departure_time": "+5 hours", "energy_kwh": "0"}, "more than 0"),
    ],
)
def test_a_wish_that_cannot_be_planned_is_a_400(as_driver, driver, connector, wish, message):
    token_of(driver)
    for key, value in wish.items():
        if value.startswith("+"):
            amount, unit = value[1:].split()
            wish[key] = (timezone.now() + timedelta(**{unit: int(amount)})).isoformat()

    response = as_driver.post(START, {"connector": connector.pk, **wish}, format="json")

    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]


def night_tariff_site(name: str) -> Site:
    site = Site.objects.create(name=name, time_zone="UTC")
    tariff = Tariff.objects.create(name="Night is cheap", price_per_kwh=Decimal(3))
    TimeOfUsePeriod.objects.create(
        tariff=tariff,
        name="Night",
        start_time=time(22),
        end_time=time(6),
        price_per_kwh=Decimal(1),
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    return site


def night_hours(at: datetime) -> bool:
    return at.hour >= 22 or at.hour < 6


async def test_the_charger_gets_the_cheapest_schedule_with_the_start(
    charger, client_for, make_user
):
    driver = await sync_to_async(make_user)()
    await sync_to_async(token_of)(driver, "CHEAP-1")
    api = client_for(driver)
    site = await sync_to_async(night_tariff_site)("CHEAP-CP-1 site")
    async with charger("CHEAP-CP-1", site=site) as cp:
        connector = await sync_to_async(Connector.objects.create)(
            charge_point=await sync_to_async(ChargePoint.objects.get)(charge_point_id="CHEAP-CP-1"),
            connector_id=1,
            max_power_kw=Decimal(11),
        )
        await cp.boot()
        # A day ahead: a whole night lies before the departure, whenever the test runs.
        departure = (timezone.now() + timedelta(hours=24)).replace(microsecond=0)

        started = await sync_to_async(api.post)(
            START,
            {
                "connector": connector.pk,
                "departure_time": departure.isoformat(),
                "energy_kwh": "11",
            },
            format="json",
        )

        assert started.status_code == 202, started.content
        action, request = cp.received[-1]
        assert action == "RemoteStartTransaction"
        profile = request["charging_profile"]
        assert profile["charging_profile_purpose"] == "TxProfile"
        assert profile["charging_profile_kind"] == "Absolute"
        schedule = profile["charging_schedule"]
        assert schedule["charging_rate_unit"] == "W"
        begin = datetime.fromisoformat(schedule["start_schedule"])
        end = begin + timedelta(seconds=schedule["duration"])
        assert end == departure
        periods = schedule["charging_schedule_period"]
        starts = [begin + timedelta(seconds=p["start_period"]) for p in periods]
        energy_wh = sum(
            p["limit"] * (until - start).total_seconds() / 3600
            for p, start, until in zip(periods, starts, [*starts[1:], end], strict=True)
        )
        assert energy_wh == pytest.approx(11_000, abs=1)
        charging = [
            (start, until)
            for p, start, until in zip(periods, starts, [*starts[1:], end], strict=True)
            if p["limit"]
        ]
        # Only night hours (1 SEK instead of 3), at the connector's full 11 kW but for the
        # last quarter, which takes what is left.
        assert charging
        for start, until in charging:
            assert night_hours(start) and night_hours(until - timedelta(seconds=1))
        assert len({p["limit"] for p in periods} - {0, 11_000}) <= 1
