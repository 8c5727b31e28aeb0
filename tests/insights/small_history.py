"""A few sessions built by hand, with their charges as billing freezes them, so that the
dashboards' figures can be computed by hand (tests/insights/test_figures.py)."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.models import BillingAccount, SessionCharge
from stations.models import ChargePoint, ChargingSession, Connector, Site
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
