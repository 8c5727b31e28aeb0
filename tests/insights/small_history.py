"""A few sessions and no-show fees built by hand, with their charges as billing freezes
them, so that the dashboards' figures can be computed by hand
(tests/insights/test_figures.py)."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.models import BillingAccount, SessionCharge
from stations.models import Booking, ChargePoint, ChargingSession, Connector, Site
from users.models import IdToken, User

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=STOCKHOLM)


def site(name: str = "Hand site") -> tuple[Site, Connector, Connector]:
    """A site in Stockholm with one charger of two 22 kW Type 2 connectors."""
    place = Site.objects.create(name=name, time_zone="Europe/Stockholm")
    charger = ChargePoint.objects.create(charge_point_id=f"CP-{name[:8]}", site=place)
    a, b = (
        Connector.objects.create(
            charge_point=charger, connector_id=n, connector_type="Type2", max_power_kw=Decimal("22")
        )
        for n in (1, 2)
    )
    return place, a, b


def driver(email: str, joined: datetime) -> IdToken:
    user = User.objects.create_user(email, "pw", date_joined=joined)
    return IdToken.objects.create(uid=email[:20], owner=user)


def session(
    connector: Connector,
    start: datetime,
    minutes: int,
    kwh: str,
    charging_minutes: int,
    method: str = "card",
    gross: str = "0",
    token: IdToken | None = None,
    account: BillingAccount | None = None,
) -> ChargingSession:
    """A finished session and its charge: plugged in `minutes`, charging the first
    `charging_minutes` of them, idle the rest; net is gross without 25 % VAT. `account`
    paid (a fleet's), if given."""
    energy = int(Decimal(kwh) * 1000)
    made = ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=token.uid if token else "GUEST",
        id_token=token,
        status=ChargingSession.Status.COMPLETED,
        started_at=start,
        meter_start_wh=0,
        stopped_at=start + timedelta(minutes=minutes),
        meter_stop_wh=energy,
        energy_wh=energy,
    )
    total = Decimal(gross)
    SessionCharge.objects.create(
        session=made,
        account=account,
        method=method,
        status=SessionCharge.Status.PAID,
        gross=total,
        net=(total / Decimal("1.25")).quantize(Decimal("0.01")),
        vat=total - (total / Decimal("1.25")).quantize(Decimal("0.01")),
        vat_rate=Decimal("25"),
        energy_kwh=Decimal(kwh),
        charging_minutes=Decimal(charging_minutes),
        idle_minutes=Decimal(minutes - charging_minutes),
        priced_at=made.stopped_at,
    )
    return made


def no_show_fee(
    connector: Connector,
    slot_start: datetime,
    token: IdToken,
    method: str,
    gross: str,
    status: str = SessionCharge.Status.PAID,
    account: BillingAccount | None = None,
) -> SessionCharge:
    """A booking of an hour from `slot_start` that `token`'s driver did not use, and its
    no-show fee (billing/no_show.py: a charge owned by the booking); net is gross
    without 25 % VAT."""
    booking = Booking.objects.create(
        connector=connector,
        user=token.owner,
        id_token=token,
        starts_at=slot_start,
        ends_at=slot_start + timedelta(hours=1),
        status=Booking.Status.NO_SHOW,
        fee_charged=Decimal(gross),
    )
    total = Decimal(gross)
    net = (total / Decimal("1.25")).quantize(Decimal("0.01"))
    return SessionCharge.objects.create(
        booking=booking,
        account=account,
        method=method,
        status=status,
        gross=total,
        net=net,
        vat=total - net,
        vat_rate=Decimal("25"),
        priced_at=booking.ends_at,
    )
