"""Smart charging with real simulated OCPP 1.6 chargers over WebSocket against the server
(stations/load_balancing.py): judged from the profiles the chargers received, a driver's
cheap-hour plan (charging/cheap_hours.py) among them."""

import itertools
import time
from contextlib import AsyncExitStack
from datetime import time as clock_time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
from charging import start_stop
from stations import load_balancing, site_limits, tasks
from stations.models import ChargePoint, ChargerCommand, Connector, ConnectorAllocation, Site
from tests.conftest import eventually
from tests.mail import mails_to, text_of
from tests.stations.ocpp_wire import ago, iso, send
from users.models import IdToken, User

D = Decimal
SETTLE = 30  # s: ten chargers answering profiles on a loaded machine


class Timeline:
    """What each charger's connector 1 may draw, moment by moment, as the chargers were
    told: the last TxProfile of its running transaction, else its TxDefaultProfile."""

    def __init__(self, chargers: dict[str, Any]) -> None:
        self.chargers = chargers
        self.running: dict[str, list[tuple[float, int | None]]] = {cp: [] for cp in chargers}

    def started(self, cp: str, transaction_id: int, at: float) -> None:
        self.running[cp].append((at, transaction_id))

    def stopped(self, cp: str, at: float) -> None:
        self.running[cp].append((at, None))

    def _events(self) -> list[tuple[float, str, str, Any]]:
        events = []
        for cp, charger in self.chargers.items():
            for at, (action, fields) in zip(charger.received_times, charger.received, strict=True):
                if action == "SetChargingProfile":
                    events.append((at, "profile", cp, fields["cs_charging_profiles"]))
            for at, transaction_id in self.running[cp]:
                events.append((at, "running", cp, transaction_id))
        return sorted(events, key=lambda e: e[0])

    def sums(self) -> list[tuple[float, Decimal]]:
        """The sum of what every connector may draw after each event."""
        default: dict[str, Decimal] = {}
        tx: dict[str, tuple[int, Decimal]] = {}
        running: dict[str, int | None] = {}
        result = []
        for at, kind, cp, data in self._events():
            if kind == "running":
                running[cp] = data
            elif data["charging_profile_purpose"] == "TxDefaultProfile":
                default[cp] = _limit(data)
            else:
                tx[cp] = (data["transaction_id"], _limit(data))
            total = D(0)
            for name, transaction_id in running.items():
                if transaction_id is None:
                    continue
                held = tx.get(name)
                total += held[1] if held and held[0] == transaction_id else default.get(name, D(0))
            result.append((at, total))
        return result

    def now_for(self, cp: str) -> Decimal | None:
        """The connector's TxProfile limit for its running transaction, if any."""
        transaction_id = self.running[cp][-1][1] if self.running[cp] else None
        held = None
        charger = self.chargers[cp]
        for action, fields in charger.received:
            profile = fields.get("cs_charging_profiles", {})
            if action == "SetChargingProfile" and profile.get("transaction_id") == transaction_id:
                held = _limit(profile)
        return held


def _limit(profile: dict[str, Any]) -> Decimal:
    # As the charger's library hands it over: snake_case keys.
    return D(str(profile["charging_schedule"]["charging_schedule_period"][0]["limit"]))


def _make_site() -> Site:
    IdToken.objects.get_or_create(uid="SMART-1")
    return Site.objects.create(name="Garage 63 A", grid_limit_amps=D(63), phases=3)


async def _start(cp: Any, timeline: Timeline, name: str) -> int:
    at = _clock()
    answer = await send(
        cp,
        "StartTransaction",
        {"connectorId": 1, "idTag": "SMART-1", "meterStart": 0, "timestamp": _iso_now()},
    )
    timeline.started(name, answer["transactionId"], at)
    return answer["transactionId"]


async def _stop(cp: Any, timeline: Timeline, name: str, transaction_id: int) -> None:
    timeline.stopped(name, _clock())
    await send(
        cp,
        "StopTransaction",
        {"transactionId": transaction_id, "meterStop": 1000, "timestamp": _iso_now()},
    )


def _clock() -> float:
    return time.monotonic()


def _iso_now() -> str:
    return iso(ago(seconds=0))


async def test_ten_chargers_on_a_63_a_site_never_exceed_it_and_each_gets_6_a(charger):
    site = await sync_to_async(_make_site)()
    names = [f"SMART-{i}" for i in range(10)]
    async with AsyncExitStack() as stack:
        chargers = {}
        for name in names:
            chargers[name] = await stack.enter_async_context(charger(name, site=site))
        timeline = Timeline(chargers)
        for cp in chargers.values():
            assert (await cp.boot()).status == "Accepted"

        # Every charger of a managed site is told its TxDefaultProfile: 0 A until its
        # session's own allocation arrives.
        def defaults_told() -> bool:
            return all(
                any(
                    action == "SetChargingProfile"
                    and f["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
                    for action, f in cp.received
                )
                for cp in chargers.values()
            )

        assert await eventually(defaults_told, SETTLE)

        def shares(expected: dict[str, Decimal]):
            return lambda: all(timeline.now_for(n) == v for n, v in expected.items())

        # Staggered starts: three, then seven in a burst.
        tx = {}
        for name in names[:3]:
            tx[name] = await _start(chargers[name], timeline, name)
        assert await eventually(shares(dict.fromkeys(names[:3], D("21"))), SETTLE)
        for name in names[3:]:
            tx[name] = await _start(chargers[name], timeline, name)
        assert await eventually(shares(dict.fromkeys(names, D("6.3"))), SETTLE)

        # Five stop at staggered times: the rest share the 63 A.
        for name in names[:2]:
            await _stop(chargers[name], timeline, name, tx.pop(name))
        for name in names[2:5]:
            await _stop(chargers[name], timeline, name, tx.pop(name))
        running = names[5:]
        assert await eventually(shares(dict.fromkeys(running, D("12.6"))), SETTLE)
        assert all(total <= 63 for _, total in timeline.sums())

        # The grid operator lowers the site to 32 A: every charger is lowered to 6.4 A.
        lowered_at = _clock()
        until = timezone.now() + timedelta(hours=1)
        await sync_to_async(_lower_site)(site.pk, D(32), until)
        assert await eventually(shares(dict.fromkeys(running, D("6.4"))), SETTLE)
        after = [(at, total) for at, total in timeline.sums() if at >= lowered_at]
        # Only lowering: the sum never rose on the way, and ends under 32 A.
        assert all(b[1] <= a[1] for a, b in itertools.pairwise(after))
        assert after[-1][1] <= 32

        # One charger drops off: its last 6.4 A stays counted. Another stops: the three
        # left share 32 - 6.4 A, not 32 A.
        gone = running[0]
        await chargers[gone]._connection.close()
        assert await eventually(lambda: _is_offline(gone), SETTLE)
        await _stop(chargers[running[1]], timeline, running[1], tx.pop(running[1]))
        left = running[2:]
        assert await eventually(shares(dict.fromkeys(left, D("8.5"))), SETTLE)
        assert all(total <= 63 for _, total in timeline.sums())
        assert sum(timeline.now_for(n) or 0 for n in left) + timeline.now_for(gone) <= 32
        allocation = await sync_to_async(_allocation_of)(gone)
        assert allocation.limit_amps == D("6.4") and allocation.accepted_amps == D("6.4")


def _lower_site(site_id: int, amps: Decimal, until: Any) -> None:
    site = Site.objects.get(pk=site_id)
    site_limits.set_dynamic_limit(site, amps, until)
    tasks.allocate_soon(site_id)


def _is_offline(charge_point_id: str) -> bool:
    return not ChargePoint.objects.get(charge_point_id=charge_point_id).is_connected


def _allocation_of(charge_point_id: str) -> ConnectorAllocation:
    return ConnectorAllocation.objects.get(
        connector__charge_point__charge_point_id=charge_point_id, connector__connector_id=1
    )


def _commands(charge_point_id: str) -> list[ChargerCommand]:
    return list(
        ChargerCommand.objects.filter(charge_point__charge_point_id=charge_point_id).order_by("pk")
    )


def _site(name: str, amps: Decimal) -> Site:
    IdToken.objects.get_or_create(uid="SMART-1")
    return Site.objects.create(name=name, grid_limit_amps=amps, phases=3)


async def test_a_charger_that_refuses_its_profile_is_counted_at_its_maximum_and_flagged(
    charger,
):
    site = await sync_to_async(_site)("Refusing", D(40))
    async with charger("SMART-NO", site=site) as refusing, charger("SMART-YES", site=site) as ok:
        refusing.answers["SetChargingProfile"] = {"status": "Rejected"}
        timeline = Timeline({"SMART-NO": refusing, "SMART-YES": ok})
        for cp in (refusing, ok):
            await cp.boot()
        await _start(refusing, timeline, "SMART-NO")
        await _start(ok, timeline, "SMART-YES")
        # 22 kW on three phases is 31.8 A: what is left of 40 A is 8.2 A.
        assert await eventually(lambda: timeline.now_for("SMART-YES") == D("8.2"), SETTLE)
        flagged = await sync_to_async(_allocation_of)("SMART-NO")
        assert flagged.profile_status == ConnectorAllocation.ProfileStatus.REJECTED
        assert flagged.profile_error == "Rejected"


def _current(transaction_id: int, amps: str, seconds_ago: int) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": iso(ago(seconds=seconds_ago)),
                "sampledValue": [
                    {"value": amps, "measurand": "Current.Import", "unit": "A", "phase": phase}
                    for phase in ("L1", "L2", "L3")
                ],
            }
        ],
    }


async def test_a_car_drawing_less_lends_its_share_and_takes_it_back(charger):
    site = await sync_to_async(_site)("Lending", D(40))
    async with (
        charger("SMART-LEND", site=site) as lender,
        charger("SMART-TAKE", site=site) as taker,
    ):
        timeline = Timeline({"SMART-LEND": lender, "SMART-TAKE": taker})
        for cp in (lender, taker):
            await cp.boot()
        lending = await _start(lender, timeline, "SMART-LEND")
        await _start(taker, timeline, "SMART-TAKE")
        both = {"SMART-LEND": D(20), "SMART-TAKE": D(20)}
        assert await eventually(
            lambda: all(timeline.now_for(n) == v for n, v in both.items()), SETTLE
        )
        # The car draws 3 A of its 20: it keeps the minimum, the other gets the rest
        # (up to its own 31.8 A).
        await send(lender, "MeterValues", _current(lending, "3.0", seconds_ago=10))
        lent = {"SMART-LEND": D(6), "SMART-TAKE": D("31.8")}
        assert await eventually(
            lambda: all(timeline.now_for(n) == v for n, v in lent.items()), SETTLE
        )
        # It draws all it has again: it gets its fair share back.
        await send(lender, "MeterValues", _current(lending, "6.0", seconds_ago=0))
        assert await eventually(
            lambda: all(timeline.now_for(n) == v for n, v in both.items()), SETTLE
        )
        assert all(total <= 40 for _, total in timeline.sums())


@pytest.fixture(scope="module")
def mail_server(start_mail_server: Any) -> tuple[str, Any]:
    return start_mail_server()


def _driver_token(email: str, uid: str) -> None:
    driver = User.objects.create_user(email, "pw", language="en")
    IdToken.objects.create(uid=uid, owner=driver)


async def test_a_car_the_site_cannot_serve_waits_at_0_a_and_its_driver_is_told(
    charger, mail_server
):
    server, mail = mail_server
    site = await sync_to_async(_site)("Too small", D(10))
    await sync_to_async(_driver_token)("waiting@example.com", "WAIT-1")
    async with (
        charger("SMART-FIRST", site=site, server=server) as first,
        charger("SMART-WAITS", site=site, server=server) as second,
    ):
        timeline = Timeline({"SMART-FIRST": first, "SMART-WAITS": second})
        for cp in (first, second):
            await cp.boot()
        await _start(first, timeline, "SMART-FIRST")
        assert await eventually(lambda: timeline.now_for("SMART-FIRST") == D(10), SETTLE)
        at = _clock()
        answer = await send(
            second,
            "StartTransaction",
            {"connectorId": 1, "idTag": "WAIT-1", "meterStart": 0, "timestamp": _iso_now()},
        )
        timeline.started("SMART-WAITS", answer["transactionId"], at)
        assert await eventually(lambda: timeline.now_for("SMART-WAITS") == D(0), SETTLE)
        assert timeline.now_for("SMART-FIRST") == D(10)
        told = await eventually(lambda: mails_to(mail, "waiting@example.com"), SETTLE)
        assert [m["Subject"] for m in told] == ["Your car waits to charge at Too small"]
        assert "starts by itself as soon as there is room" in text_of(told[0])
        waiting = await sync_to_async(_allocation_of)("SMART-WAITS")
        assert waiting.waiting and waiting.limit_amps == 0


def _planned_site(now: Any) -> tuple[Site, User, IdToken, Any]:
    """A 20 A site whose tariff is cheap from three hours ahead for two (3 SEK/kWh, then
    1), the driver who plans, and when the cheap hours begin."""
    IdToken.objects.get_or_create(uid="SMART-1")
    site = Site.objects.create(name="Planned 20 A", time_zone="UTC", grid_limit_amps=D(20))
    cheap_from = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    tariff = Tariff.objects.create(name="Cheap in three hours", price_per_kwh=D(3))
    TimeOfUsePeriod.objects.create(
        tariff=tariff,
        name="Cheap",
        start_time=clock_time(cheap_from.hour),
        end_time=clock_time((cheap_from + timedelta(hours=2)).hour),
        price_per_kwh=D(1),
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    driver = User.objects.create_user("plans@example.com", "pw")
    token = IdToken.objects.create(uid="PLAN-TAG", owner=driver)
    return site, driver, token, cheap_from


def _eleven_kw(charge_point_id: str) -> Connector:
    return Connector.objects.create(
        charge_point=ChargePoint.objects.get(charge_point_id=charge_point_id),
        connector_id=1,
        max_power_kw=D(11),
    )


def _heard_daily(site: Site) -> None:
    # The runs below look hours ahead: chargers that heartbeat daily still count online.
    ChargePoint.objects.filter(site=site).update(heartbeat_interval=86_400)


async def test_a_cheap_hour_plan_on_a_managed_site_charges_in_its_hours_within_the_limit(
    charger,
):
    now = timezone.now()
    site, driver, token, cheap_from = await sync_to_async(_planned_site)(now)
    async with charger("PLAN-CAR", site=site) as planned, charger("PLAN-OTHER", site=site) as other:
        connector = await sync_to_async(_eleven_kw)("PLAN-CAR")
        await sync_to_async(_eleven_kw)("PLAN-OTHER")
        timeline = Timeline({"PLAN-CAR": planned, "PLAN-OTHER": other})
        for cp in (planned, other):
            await cp.boot()
        await _start(other, timeline, "PLAN-OTHER")
        assert await eventually(lambda: timeline.now_for("PLAN-OTHER") == D("15.9"), SETTLE)

        # The driver starts with a departure and the energy needed; the car takes it.
        await sync_to_async(start_stop.start)(
            driver,
            connector,
            token,
            source="api",
            departure=now + timedelta(hours=20),
            energy_kwh=D(11),
        )
        assert planned.received[-1][0] == "RemoteStartTransaction"
        at = _clock()
        answer = await send(
            planned,
            "StartTransaction",
            {"connectorId": 1, "idTag": "PLAN-TAG", "meterStart": 0, "timestamp": _iso_now()},
        )
        timeline.started("PLAN-CAR", answer["transactionId"], at)
        # Not a cheap hour: the planned car is held at 0 A, the other keeps its 11 kW.
        assert await eventually(lambda: timeline.now_for("PLAN-CAR") == D(0), SETTLE)
        assert timeline.now_for("PLAN-OTHER") == D("15.9")

        # The minute task finds the plan's first cheap quarter; its run shares the 20 A.
        await sync_to_async(_heard_daily)(site)
        in_cheap_hours = cheap_from + timedelta(minutes=1)
        assert await sync_to_async(load_balancing.plans_changing)(now) == []
        assert await sync_to_async(load_balancing.plans_changing)(in_cheap_hours) == [site.pk]
        await sync_to_async(load_balancing.allocate_site, thread_sensitive=False)(
            site, in_cheap_hours
        )
        shared = {"PLAN-CAR": D(10), "PLAN-OTHER": D(10)}
        assert await eventually(
            lambda: all(timeline.now_for(n) == v for n, v in shared.items()), SETTLE
        )

        # After the cheap hours the plan holds the car at 0 A again: the other gets it all.
        after = cheap_from + timedelta(hours=2, minutes=1)
        await sync_to_async(load_balancing.allocate_site, thread_sensitive=False)(site, after)
        paused = {"PLAN-CAR": D(0), "PLAN-OTHER": D("15.9")}
        assert await eventually(
            lambda: all(timeline.now_for(n) == v for n, v in paused.items()), SETTLE
        )
        assert all(total <= 20 for _, total in timeline.sums())
