"""A realistic charging history, generated: for the tests, `bench/insights.py` and
`manage.py load_demo --history` (so a fresh `make run` has populated dashboards).

Several sites in Swedish cities, each with chargers of two models (AC 22 kW, DC 150 kW);
drivers signing up over the period (more later: the network grows) and some leaving;
sessions arriving with a daily and weekly rhythm (commuters' mornings and evenings,
quieter weekends) in the site's local time; each session with its meter samples (energy
register and power), its status changes (Preparing, Charging, SuspendedEV while the car
sits full, Finishing, Available), and its frozen charge (billing's SessionCharge: paid,
failed, on an invoice, guest) by the driver's payment method, or by their fleet's
account, or free for staff; faults that take a connector out for hours; searches that
found nothing free when a driver was turned away; now and then a card refused at the
charger (Authorize not Accepted) before the driver started with another (REFUSED_SHARE,
from a random.Random of its own: the sessions are the same with or without it).

With `HistorySize.worn` > 0, that many chargers wear out and fail once (`History.failures`):
over the 10 to 28 days before the failure one or two of what predictive maintenance reads
get steadily worse (faults, boots, failed starts, delivered power), the failure takes the
charger out for a day, and the repair makes it normal again. Every charger boots now and
then. Boots and the drivers' fleets and staff are drawn apart from the sessions too; worn
chargers change their own sessions.

Deterministic from the seed (one random.Random, no clock: `end` is given or today at
midnight UTC), and fast: rows are built in memory and written with bulk_create.
"""

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils.translation import gettext as _

from billing.models import BillingAccount, CustomerGroup, SessionCharge
from billing.money import round_to_ore
from insights import degradation, forecasting, maintenance, maintenance_data, rollup
from insights.models import RefusedStart, SearchRecord
from insights.searches import grid_cell
from operations.models import ChargerBoot
from stations.models import (
    ChargePoint,
    ChargingSession,
    Connector,
    MeterSample,
    Site,
    StatusEvent,
    StopReason,
)
from users.models import IdToken, User

SITE_PREFIX = "History: "
REFUSED_SHARE = 0.03  # of the starts, a refused card first
# (city, latitude, longitude, popularity): arrivals scale with popularity.
PLACES = [
    ("Stockholm", 59.3293, 18.0686, 1.4),
    ("Göteborg", 57.7089, 11.9746, 1.1),
    ("Malmö", 55.6050, 13.0038, 1.0),
    ("Uppsala", 59.8586, 17.6389, 0.8),
    ("Västerås", 59.6099, 16.5448, 0.6),
    ("Örebro", 59.2753, 15.2134, 0.5),
    ("Linköping", 58.4108, 15.6214, 0.7),
    ("Umeå", 63.8258, 20.2630, 0.4),
]
# (model, connector type, rated kW, typical vehicle kW range, charging hours range,
# idle hours range after the car is full, arrivals per hour at the busiest hour)
MODELS = {
    "AC": (
        "Alpha AC22",
        Connector.Type.TYPE2,
        Decimal("22"),
        (3.7, 11.0),
        (1.0, 4.0),
        (0.0, 3.0),
        0.30,
    ),
    "DC": (
        "Beta DC150",
        Connector.Type.CCS2,
        Decimal("150"),
        (40.0, 120.0),
        (0.25, 0.75),
        (0.0, 0.15),
        0.55,
    ),
}
# Relative arrival rate per local hour: commuters' morning and evening peaks on weekdays,
# a broad midday hump at weekends.
WEEKDAY_HOURS = [
    0.05, 0.03, 0.02, 0.02, 0.03, 0.10, 0.35, 0.70, 0.85, 0.60, 0.45, 0.50,
    0.60, 0.55, 0.50, 0.60, 0.85, 1.00, 0.90, 0.65, 0.45, 0.30, 0.18, 0.10,
]  # fmt: skip
WEEKEND_HOURS = [
    0.05, 0.03, 0.02, 0.02, 0.02, 0.03, 0.08, 0.15, 0.30, 0.50, 0.65, 0.75,
    0.80, 0.80, 0.75, 0.70, 0.65, 0.60, 0.50, 0.40, 0.30, 0.20, 0.12, 0.08,
]  # fmt: skip
FAULT_CODES = ["GroundFailure", "HighTemperature", "OverCurrentFailure", "PowerMeterFailure"]
PRICE_PER_KWH_NET = Decimal("3.60")  # SEK before VAT
VAT_RATE = Decimal("25.00")
# Shares of the drivers' payment methods, and of sessions paid by guests' cards.
PAYMENT_METHODS = [("card", 0.55), ("wallet", 0.30), ("invoice", 0.15)]
GUEST_SHARE = 0.08
CARD_FAILURE_SHARE = 0.03
PLAN_SHARE = 0.2  # drivers on the subscription plan
# Fleets whose account pays their drivers' sessions (by invoice), and staff who charge free.
FLEETS = ("History fleet: taxi", "History fleet: deliveries")
FLEET_SHARE = 0.08
STAFF_SHARE = 0.02
BOOTS_PER_DAY = 0.01  # a charger's occasional reboot (an update, a power cut)
# Wear at its worst, on the failure's eve: added faults and boots a day, share of starts
# failing, share of the power lost.
WORN_FAULTS_PER_DAY = 1.5
WORN_BOOTS_PER_DAY = 1.5
WORN_FAILED_STARTS = 0.5
WORN_POWER_LOSS = 0.5
BATCH = 5000


@dataclass
class HistorySize:
    """How much history: the defaults are `load_demo --history`'s (seconds to make)."""

    sites: int = 3
    chargers_per_site: int = 3
    days: int = 56
    drivers: int = 120
    samples_per_session: int = 4  # instants per session; two rows each (energy, power)
    # Faults per charger and day; and the busiest hour's arrivals per connector, scaled.
    fault_rate: float = 0.02
    demand: float = 1.0
    worn: int = 0  # chargers that wear out and fail once


@dataclass
class History:
    """What was generated: the rows' counts, and the objects tests refer to."""

    start: datetime
    end: datetime
    sites: list[Site] = field(default_factory=list)
    charge_points: list[ChargePoint] = field(default_factory=list)
    drivers: list[User] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # The worn chargers' failures: charge point -> when it broke down.
    failures: dict[ChargePoint, datetime] = field(default_factory=dict)


@dataclass
class _Port:
    connector: Connector
    site: Site
    kind: str  # "AC" or "DC"
    popularity: float
    zone: ZoneInfo
    meter_wh: int = 0
    derate: float = 1.0  # < 1: a charger that cannot deliver its rated power
    wear: "_Wear | None" = None


@dataclass
class _Wear:
    """A charger wearing out: when it fails, for how long before it wears, and what wears
    (insights.maintenance.METRICS)."""

    fails_at: datetime
    ramp: timedelta
    metrics: tuple[str, ...]

    def at(self, moment: datetime, metric: str) -> float:
        """How worn `metric` is at `moment`: 0 before the wear, rising to 1 at the failure,
        0 after it (repaired)."""
        begins = self.fails_at - self.ramp
        if metric not in self.metrics or not begins <= moment < self.fails_at:
            return 0.0
        return (moment - begins) / self.ramp


@dataclass
class _Driver:
    user: User
    token: IdToken
    account: BillingAccount
    joined: datetime
    leaves: datetime
    vehicle_kw: dict[str, float]
    weight: float
    fleet_account: BillingAccount | None = None  # the fleet that pays their sessions
    staff: bool = False  # charges free


def generate(
    seed: int = 1, size: HistorySize | None = None, end: datetime | None = None
) -> History:
    """Write a history of `size.days` days up to `end` (default: today 00:00 UTC)."""
    size = size or HistorySize()
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=size.days)
    rng = random.Random(seed)
    life = random.Random(f"life {seed}")  # groups, boots, wear: apart from the sessions
    history = History(start=start, end=end)
    with transaction.atomic():
        ports = _network(rng, size, history, seed)
        drivers = _drivers(rng, size, history, seed)
        _groups(life, drivers)
        _wear(life, size, history, ports)
        _sessions(rng, size, history, ports, drivers, seed, life)
        _boots(life, history, ports)
    return history


def _network(rng: random.Random, size: HistorySize, history: History, seed: int) -> list[_Port]:
    ports: list[_Port] = []
    for number in range(size.sites):
        city, lat, lon, popularity = PLACES[number % len(PLACES)]
        # Sites spread a few km around the city's centre.
        site = Site.objects.create(
            name=f"{SITE_PREFIX}{city} {number + 1} ({seed})",
            address=f"Laddgatan {number + 1}",
            city=city,
            latitude=Decimal(f"{lat + rng.uniform(-0.03, 0.03):.6f}"),
            longitude=Decimal(f"{lon + rng.uniform(-0.05, 0.05):.6f}"),
            time_zone="Europe/Stockholm",
        )
        history.sites.append(site)
        zone = ZoneInfo(site.time_zone)
        for index in range(size.chargers_per_site):
            kind = "DC" if index % 3 == 2 else "AC"
            model, connector_type, rated, *_rest = MODELS[kind]
            charge_point = ChargePoint.objects.create(
                charge_point_id=f"H{seed}-{number + 1:03d}-{index + 1:02d}",
                site=site,
                vendor="ChargeHub",
                model=model,
                allow_unauthenticated=True,
            )
            history.charge_points.append(charge_point)
            # One charger in seven cannot deliver its rating (a weak cable, a hot cabinet).
            derate = 0.55 if rng.random() < 1 / 7 else 1.0
            for connector_id in (1, 2):
                connector = Connector.objects.create(
                    charge_point=charge_point,
                    connector_id=connector_id,
                    connector_type=connector_type,
                    max_power_kw=rated,
                    status=Connector.Status.AVAILABLE,
                )
                ports.append(
                    _Port(
                        connector,
                        site,
                        kind,
                        popularity * rng.uniform(0.7, 1.3),
                        zone,
                        meter_wh=rng.randrange(0, 5_000_000),
                        derate=derate,
                    )
                )
    history.counts["sites"] = size.sites
    history.counts["connectors"] = len(ports)
    return ports


def _drivers(rng: random.Random, size: HistorySize, history: History, seed: int) -> list[_Driver]:
    """Drivers joining over the period, more of them later; a quarter already there."""
    plan = CustomerGroup.objects.get_or_create(
        name="History plan members", defaults={"kind": CustomerGroup.Kind.PLAN}
    )[0]
    span = (history.end - history.start).total_seconds()
    users, joined = [], []
    for number in range(size.drivers):
        # A quarter signed up before the period; the rest at a rate rising with time.
        at = (
            history.start - timedelta(days=rng.uniform(1, 365))
            if number < size.drivers // 4
            else history.start + timedelta(seconds=span * math.sqrt(rng.random()))
        )
        joined.append(at)
        users.append(
            User(
                email=f"driver{number + 1}.h{seed}@history.example",
                date_joined=at,
                language="sv" if rng.random() < 0.7 else "en",
            )
        )
    users = User.objects.bulk_create(users, batch_size=BATCH)
    tokens = IdToken.objects.bulk_create(
        [
            IdToken(uid=f"H{seed}-{number + 1:06d}", owner=user, name=f"History card {number + 1}")
            for number, user in enumerate(users)
        ],
        batch_size=BATCH,
    )
    methods = [method for method, _share in PAYMENT_METHODS]
    shares = [share for _method, share in PAYMENT_METHODS]
    accounts = BillingAccount.objects.bulk_create(
        [
            BillingAccount(user=user, payment_method=rng.choices(methods, shares)[0])
            for user in users
        ],
        batch_size=BATCH,
    )
    plan.members.add(*[user for user in users if rng.random() < PLAN_SHARE])
    drivers = []
    for user, token, account, at in zip(users, tokens, accounts, joined, strict=True):
        # Most stay; some leave after a few weeks (retention by cohort is not flat).
        stays = rng.random() < 0.7
        leaves = (
            history.end + timedelta(days=1)
            if stays
            else at + timedelta(days=rng.expovariate(1 / 30))
        )
        drivers.append(
            _Driver(
                user,
                token,
                account,
                at,
                leaves,
                # The car's own limit: a slow car cannot use a fast charger.
                {"AC": rng.uniform(*MODELS["AC"][3]), "DC": rng.uniform(*MODELS["DC"][3])},
                rng.paretovariate(1.5),  # a few drivers charge far more than most
            )
        )
    history.drivers = users
    history.counts["drivers"] = len(users)
    return drivers


def _groups(life: random.Random, drivers: list[_Driver]) -> None:
    """Some drivers belong to a fleet whose account pays (by invoice), a few are staff."""
    fleets = []
    for name in FLEETS:
        group = CustomerGroup.objects.get_or_create(
            name=name, defaults={"kind": CustomerGroup.Kind.FLEET}
        )[0]
        fleets.append(
            BillingAccount.objects.get_or_create(
                fleet=group, defaults={"payment_method": BillingAccount.PaymentMethod.INVOICE}
            )[0]
        )
    staff = CustomerGroup.objects.get_or_create(
        name="History staff", defaults={"kind": CustomerGroup.Kind.STAFF}
    )[0]
    for driver in drivers:
        draw = life.random()
        if draw < FLEET_SHARE:
            driver.fleet_account = fleets[int(draw / FLEET_SHARE * len(fleets))]
            driver.fleet_account.fleet.members.add(driver.user)
        elif draw < FLEET_SHARE + STAFF_SHARE:
            driver.staff = True
    staff.members.add(*[driver.user for driver in drivers if driver.staff])


def _wear(life: random.Random, size: HistorySize, history: History, ports: list[_Port]) -> None:
    """`size.worn` chargers fail once, late enough for a full baseline before their wear
    (insights.maintenance: RECENT_DAYS + BASELINE_DAYS), after 10 to 28 days of it."""
    chargers = sorted({port.connector.charge_point_id for port in ports})
    first = maintenance.RECENT_DAYS + maintenance.BASELINE_DAYS + 14
    days = (history.end - history.start).days
    if not size.worn or days - 2 <= first:
        return
    worn = {}
    for charge_point_id in life.sample(chargers, min(size.worn, len(chargers))):
        fails_at = history.start + timedelta(days=life.uniform(first, days - 2))
        metrics = tuple(life.sample(maintenance.METRICS, life.choice((1, 2))))
        worn[charge_point_id] = _Wear(fails_at, timedelta(days=life.uniform(10, 28)), metrics)
    for port in ports:
        port.wear = worn.get(port.connector.charge_point_id)
    by_id = {cp.pk: cp for cp in history.charge_points}
    history.failures = {by_id[pk]: wear.fails_at for pk, wear in worn.items()}
    history.counts["worn_chargers"] = len(worn)


def _wear_faults(
    life: random.Random, history: History, port: _Port
) -> list[tuple[datetime, datetime, str]]:
    """A worn port's faults: more of them, short, as it wears; then the failure, a day."""
    if port.wear is None:
        return []
    faults = []
    day = history.start
    while day < history.end:
        moment = day + timedelta(seconds=life.uniform(0, 86400))
        # Two ports: each gets half of the charger's added faults.
        if life.random() < WORN_FAULTS_PER_DAY / 2 * port.wear.at(moment, maintenance.FAULTS):
            faults.append((moment, moment + timedelta(hours=life.uniform(0.2, 1)), FAULT_CODES[0]))
        day += timedelta(days=1)
    fails_at = port.wear.fails_at
    faults.append((fails_at, fails_at + timedelta(days=1), life.choice(FAULT_CODES)))
    return faults


def _boots(life: random.Random, history: History, ports: list[_Port]) -> None:
    """Every charger reboots now and then; a worn one more often as it wears, and once
    when it is repaired."""
    wear = {port.connector.charge_point_id: port.wear for port in ports}
    boots = []
    for charge_point_id, worn in wear.items():
        day = history.start
        while day < history.end:
            moment = day + timedelta(seconds=life.uniform(0, 86400))
            rate = BOOTS_PER_DAY
            if worn is not None:
                rate += WORN_BOOTS_PER_DAY * worn.at(moment, maintenance.BOOTS)
            if life.random() < rate:
                boots.append(ChargerBoot(charge_point_id=charge_point_id, at=moment))
            day += timedelta(days=1)
        if worn is not None and worn.fails_at + timedelta(days=1) < history.end:
            boots.append(
                ChargerBoot(charge_point_id=charge_point_id, at=worn.fails_at + timedelta(days=1))
            )
    ChargerBoot.objects.bulk_create(boots, batch_size=BATCH)
    history.counts["boots"] = len(boots)


def _rate(port: _Port, at: datetime, size: HistorySize, history: History) -> float:
    """Arrivals per hour at this port at `at`: rhythm of the local hour and weekday, the
    site's popularity, and a network growing by half over the period."""
    local = at.astimezone(port.zone)
    profile = WEEKEND_HOURS if local.isoweekday() >= 6 else WEEKDAY_HOURS
    span = (history.end - history.start).total_seconds() or 1.0
    growth = 1.0 + 0.5 * (at - history.start).total_seconds() / span
    busiest = MODELS[port.kind][6]
    return busiest * size.demand * port.popularity * profile[local.hour] * growth


def _faults(
    rng: random.Random, size: HistorySize, history: History, port: _Port
) -> list[tuple[datetime, datetime, str]]:
    faults = []
    day = history.start
    while day < history.end:
        if rng.random() < size.fault_rate:
            begins = day + timedelta(seconds=rng.uniform(0, 86400))
            faults.append(
                (begins, begins + timedelta(hours=rng.uniform(1, 12)), rng.choice(FAULT_CODES))
            )
        day += timedelta(days=1)
    return faults


def _sessions(
    rng: random.Random,
    size: HistorySize,
    history: History,
    ports: list[_Port],
    drivers: list[_Driver],
    seed: int,
    life: random.Random,
) -> None:
    sessions: list[ChargingSession] = []
    # What each session needs once it has its id: (samples, charge) builders.
    pending: list[tuple[_Port, _Driver | None, datetime, datetime, datetime, int]] = []
    statuses: list[StatusEvent] = []
    searches: list[SearchRecord] = []
    refusals: list[RefusedStart] = []
    refusal_rng = random.Random(f"refusals-{seed}")
    drivers_by_join = sorted(drivers, key=lambda driver: driver.joined)
    for port in ports:
        faults = _faults(rng, size, history, port) + _wear_faults(life, history, port)
        statuses.append(_status(port, history.start, Connector.Status.AVAILABLE))
        for begins, ends, code in faults:
            statuses.append(_status(port, begins, Connector.Status.FAULTED, code))
            statuses.append(_status(port, ends, Connector.Status.AVAILABLE))
        at = history.start
        free_from = history.start
        while at < history.end:
            rate = _rate(port, at, size, history)
            hour_end = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            gap = rng.expovariate(rate) * 3600 if rate > 0 else math.inf
            if at + timedelta(seconds=gap) >= hour_end:
                at = hour_end  # no arrival this hour: the rate changes with the next
                continue
            at += timedelta(seconds=gap)
            if at >= history.end:
                break
            broken = any(begins <= at < ends for begins, ends, _code in faults)
            if at < free_from or broken:
                # Turned away: the driver's search found nothing free near the site.
                if port.site.latitude is not None and port.site.longitude is not None:
                    lat, lon = grid_cell(float(port.site.latitude), float(port.site.longitude))
                    searches.append(
                        SearchRecord(
                            hour=at.replace(minute=0, second=0, microsecond=0),
                            cell_latitude=lat,
                            cell_longitude=lon,
                            connector_type=port.connector.connector_type,
                            found_free=False,
                        )
                    )
                continue
            driver = _driver_at(rng, drivers_by_join, at)
            vehicle_kw = (
                driver.vehicle_kw[port.kind] if driver else rng.uniform(*MODELS[port.kind][3])
            )
            _model, _type, rated, _vehicle, hours, idle_hours, _busiest = MODELS[port.kind]
            power_kw = min(vehicle_kw, float(rated) * port.derate)
            if port.wear:  # a power module wearing out gives less than the car asks
                power_kw *= 1 - WORN_POWER_LOSS * port.wear.at(at, maintenance.SHORTFALL)
            charging_s = rng.uniform(*hours) * 3600
            energy_wh = int(min(power_kw * charging_s / 3600, 80.0) * 1000)
            charging_s = energy_wh / 1000 / power_kw * 3600  # a full battery ends it sooner
            idle_s = rng.uniform(*idle_hours) * 3600 * (1.5 if _is_evening(port, at) else 1.0)
            if port.wear and life.random() < WORN_FAILED_STARTS * port.wear.at(
                at, maintenance.FAILED_STARTS
            ):
                # The start failed: a few Wh in the first minute, then the driver gives up.
                energy_wh, charging_s, idle_s = life.randrange(1, 50), 60.0, 60.0
            full_at = at + timedelta(seconds=60 + charging_s)
            stop_at = full_at + timedelta(seconds=idle_s)
            if stop_at >= history.end:
                break
            sessions.append(
                ChargingSession(
                    charge_point_id=port.connector.charge_point_id,
                    connector=port.connector,
                    id_tag=driver.token.uid if driver else f"G{seed}-{len(sessions):08d}",
                    id_token=driver.token if driver else None,
                    status=ChargingSession.Status.COMPLETED,
                    started_at=at,
                    meter_start_wh=port.meter_wh,
                    stopped_at=stop_at,
                    meter_stop_wh=port.meter_wh + energy_wh,
                    energy_wh=energy_wh,
                    stop_reason=StopReason.LOCAL,
                    closed_by="charger",
                    created_at=at,
                )
            )
            pending.append((port, driver, at, full_at, stop_at, port.meter_wh))
            if refusal_rng.random() < REFUSED_SHARE:
                refusals.append(
                    RefusedStart(
                        site=port.site,
                        charge_point_id=port.connector.charge_point_id,
                        action="Authorize",
                        status=refusal_rng.choice(("Invalid", "Blocked", "Expired")),
                        at=at - timedelta(minutes=1),
                    )
                )
            statuses.append(_status(port, at, Connector.Status.PREPARING))
            statuses.append(_status(port, at + timedelta(seconds=60), Connector.Status.CHARGING))
            if idle_s >= 60:
                statuses.append(_status(port, full_at, Connector.Status.SUSPENDED_EV))
            statuses.append(_status(port, stop_at, Connector.Status.FINISHING))
            statuses.append(
                _status(port, stop_at + timedelta(seconds=30), Connector.Status.AVAILABLE)
            )
            port.meter_wh += energy_wh
            free_from = stop_at + timedelta(seconds=30)
            at = free_from
    sessions = ChargingSession.objects.bulk_create(sessions, batch_size=BATCH)
    samples: list[MeterSample] = []
    charges: list[SessionCharge] = []
    sample_count = 0
    for session, (_port, driver, at, full_at, stop_at, meter_start) in zip(
        sessions, pending, strict=True
    ):
        samples.extend(_samples(size, session, at, full_at, stop_at, meter_start))
        charges.append(_charge(rng, history, session, driver, full_at, stop_at))
        if len(samples) >= BATCH * 4:
            sample_count += len(MeterSample.objects.bulk_create(samples, batch_size=BATCH))
            samples = []
    sample_count += len(MeterSample.objects.bulk_create(samples, batch_size=BATCH))
    SessionCharge.objects.bulk_create(charges, batch_size=BATCH)
    StatusEvent.objects.bulk_create(statuses, batch_size=BATCH)
    SearchRecord.objects.bulk_create(searches, batch_size=BATCH)
    RefusedStart.objects.bulk_create(refusals, batch_size=BATCH)
    history.counts.update(
        sessions=len(sessions),
        meter_samples=sample_count,
        status_events=len(statuses),
        searches=len(searches),
        refused_starts=len(refusals),
    )


def _is_evening(port: _Port, at: datetime) -> bool:
    return at.astimezone(port.zone).hour >= 17  # parked for the night: longer idle


def _driver_at(rng: random.Random, drivers: list[_Driver], at: datetime) -> _Driver | None:
    """A guest (card at the charger), or a driver signed up by then and not gone yet."""
    if rng.random() < GUEST_SHARE:
        return None
    present = [driver for driver in drivers if driver.joined <= at < driver.leaves]
    if not present:
        return None
    return rng.choices(present, [driver.weight for driver in present])[0]


def _status(port: _Port, at: datetime, status: str, error_code: str = "NoError") -> StatusEvent:
    return StatusEvent(
        connector=port.connector, status=status, error_code=error_code, timestamp=at, received_at=at
    )


def _samples(
    size: HistorySize,
    session: ChargingSession,
    at: datetime,
    full_at: datetime,
    stop_at: datetime,
    meter_start: int,
) -> Iterable[MeterSample]:
    """The energy register and the power, at instants spread over the charging, and one
    at the stop (the register unchanged when the car sat full: billing's idle time)."""
    energy = session.energy_wh or 0
    began = at + timedelta(seconds=60)  # Preparing first, then Charging
    charging_s = (full_at - began).total_seconds()
    power_w = energy * 3600 / charging_s if charging_s > 0 else 0
    instants = max(1, size.samples_per_session - 1)
    points = [
        (
            began + timedelta(seconds=charging_s * step / instants),
            meter_start + energy * step // instants,
            # The car is full at the last instant: it draws nothing from then on.
            0 if step == instants and stop_at > full_at else power_w,
        )
        for step in range(1, instants + 1)
    ]
    if stop_at > full_at:
        points.append((stop_at, meter_start + energy, 0))
    for timestamp, register, power in points:
        yield _sample(session, timestamp, "Energy.Active.Import.Register", "Wh", register)
        yield _sample(session, timestamp, "Power.Active.Import", "W", round(power))


def _sample(
    session: ChargingSession, at: datetime, measurand: str, unit: str, value: int
) -> MeterSample:
    return MeterSample(
        charge_point_id=session.charge_point_id,
        connector_id=session.connector.connector_id,
        session=session,
        timestamp=at,
        measurand=measurand,
        unit=unit,
        value=str(value),
        value_decimal=Decimal(value),
        received_at=at,
    )


def _charge(
    rng: random.Random,
    history: History,
    session: ChargingSession,
    driver: _Driver | None,
    full_at: datetime,
    stop_at: datetime,
) -> SessionCharge:
    """The session's frozen price and its payment, as billing's settlement leaves it."""
    kwh = Decimal(session.energy_wh or 0) / 1000
    net = round_to_ore(kwh * PRICE_PER_KWH_NET)
    vat = round_to_ore(net * VAT_RATE / 100)
    status, paid_at, method = SessionCharge.Status.PAID, stop_at + timedelta(minutes=1), "guest"
    account = driver.account if driver else None
    if driver is not None:
        method = driver.account.payment_method
        failed = method == "card" and rng.random() < CARD_FAILURE_SHARE
        if driver.fleet_account is not None:
            account, method = driver.fleet_account, "invoice"
        if driver.staff:  # the staff tariff is free: nothing to pay
            net = vat = Decimal("0.00")
            status, paid_at, method = SessionCharge.Status.NOTHING_DUE, None, "none"
        elif failed and method == "card":
            status, paid_at = SessionCharge.Status.FAILED, None
        elif method == "invoice":
            # Invoiced on the 1st after the month; this month's still waits.
            this_month = history.end.replace(day=1)
            status = (
                SessionCharge.Status.TO_INVOICE
                if stop_at >= this_month
                else SessionCharge.Status.INVOICED
            )
            paid_at = None
    # As billing.pricing counts them: charging until the register last rose, idle after.
    charging_minutes = _minutes(full_at - session.started_at)
    idle_minutes = _minutes(stop_at - full_at)
    return SessionCharge(
        session=session,
        account=account,
        method=method,
        status=status,
        tariff_name="History standard",
        vat_rate=VAT_RATE,
        net=net,
        vat=vat,
        gross=net + vat,
        energy_kwh=kwh.quantize(Decimal("0.001")),
        charging_minutes=charging_minutes,
        idle_minutes=idle_minutes,
        priced_at=stop_at + timedelta(seconds=30),
        paid_at=paid_at,
    )


def _minutes(span: timedelta) -> Decimal:
    return (Decimal(span.total_seconds()) / 60).quantize(Decimal("0.001"))


def worn_fleet(history: History) -> degradation.Fleet:
    """The history's chargers as predictive maintenance reads them from the database
    (insights/maintenance_data.py: statuses, boots, sessions, power samples), with the
    failures injected: what insights.degradation.measure() counts flags against."""
    start, end = history.start.date(), history.end.date()
    return degradation.Fleet(
        maintenance_data.daily_figures(start, end),
        {str(cp.pk): at.date() for cp, at in history.failures.items()},
    )


def exists(seed: int) -> bool:
    """Whether the history of `seed` is in the database (load_demo runs it once)."""
    return Site.objects.filter(name__startswith=SITE_PREFIX, name__endswith=f"({seed})").exists()


DEMO_SEED = 1


def load_demo_history() -> str:
    """`load_demo --history`: the default size of history once (seed DEMO_SEED), then the
    summaries rolled up so that the dashboards show it at once."""
    if exists(DEMO_SEED):
        return str(_("The generated history is already there; it was left as it is."))
    history = generate(DEMO_SEED)
    rollup.roll_up()  # the dashboards read the summaries only
    # The decisions' pages and the station page's hint read what beat stores: store it now.
    forecasting.retrain(history.end)
    maintenance_data.assess_all(history.end.date())
    return str(
        _("Generated history: %(sessions)s sessions at %(sites)s sites over %(days)s days.")
        % {
            "sessions": history.counts["sessions"],
            "sites": history.counts["sites"],
            "days": (history.end - history.start).days,
        }
    )
