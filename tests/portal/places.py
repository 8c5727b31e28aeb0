"""Places to charge, tokens and sessions for the portal tests, as the finder sees them."""

from datetime import timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from django.utils import timezone

from billing.models import BillingAccount, Tariff, TariffAssignment
from stations.models import ChargePoint, ChargingSession, Connector, Site
from users.models import IdToken, User

_numbers = count(1)


def place(
    name: str = "Lindholmen",
    *,
    lat: str | None = "57.706",
    lon: str | None = "11.938",
    connectors: tuple[tuple[str, str, str], ...] = (("Type2", "22", "Available"),),
    online: bool = True,
    charge_point_id: str | None = None,
    price_per_kwh: Decimal | None = None,
) -> Site:
    """A site with one charger and connectors given as (type, kW, status)."""
    site = Site.objects.create(
        name=f"{name} {next(_numbers)}",
        city="Göteborg",
        latitude=Decimal(lat) if lat else None,
        longitude=Decimal(lon) if lon else None,
    )
    charge_point = ChargePoint.objects.create(
        charge_point_id=charge_point_id or f"PORTAL-CP-{next(_numbers)}",
        site=site,
        is_connected=online,
        last_seen_at=timezone.now() if online else None,
    )
    for number, (kind, power, status) in enumerate(connectors, start=1):
        Connector.objects.create(
            charge_point=charge_point,
            connector_id=number,
            connector_type=kind,
            max_power_kw=Decimal(power),
            status=status,
        )
    if price_per_kwh is not None:
        tariff = Tariff.objects.create(
            name=f"Portal tariff {next(_numbers)}", price_per_kwh=price_per_kwh
        )
        TariffAssignment.objects.create(tariff=tariff, site=site)
    return site


def first_connector(site: Site) -> Connector:
    return Connector.objects.filter(charge_point__site=site).order_by("connector_id").first()


def token_of(user: User, uid: str | None = None, **fields: Any) -> IdToken:
    return IdToken.objects.create(uid=uid or f"PTAG{next(_numbers)}", owner=user, **fields)


def session_of(
    token: IdToken,
    connector: Connector,
    *,
    active: bool = False,
    wh: int = 12_345,
    minutes: int = 60,
) -> ChargingSession:
    started = timezone.now() - timedelta(minutes=minutes)
    fields: dict[str, Any] = {}
    if not active:
        fields = {
            "stopped_at": started + timedelta(minutes=minutes),
            "meter_stop_wh": 1000 + wh,
            "energy_wh": wh,
            "status": ChargingSession.Status.COMPLETED,
            "closed_by": "charger",
        }
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        id_tag=token.uid,
        id_token=token,
        started_at=started,
        meter_start_wh=1000,
        **fields,
    )


def pays_by_wallet(user: User) -> BillingAccount:
    return BillingAccount.objects.create(
        user=user, payment_method=BillingAccount.PaymentMethod.WALLET
    )
