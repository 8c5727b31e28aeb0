"""Sessions that have been priced (SessionCharge rows), made directly, for the invoicing
tests: the amounts are given by hand, so every total on a document can be checked by
adding them up."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from billing.models import BillingAccount, CustomerGroup, SessionCharge
from stations.models import ChargePoint, ChargingSession, Connector, Site
from users.models import User

_numbers = count(1)
Status = SessionCharge.Status

# 2026-03-14 is a Saturday; Stockholm is UTC+1 until 2026-03-29, UTC+2 after.
MARCH = datetime(2026, 3, 1).date()
APRIL = datetime(2026, 4, 1).date()


def D(value: str | int) -> Decimal:
    return Decimal(value)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def connector(site: str = "Göteborg Hamnen", charge_point: str | None = None) -> Connector:
    site_row, _ = Site.objects.get_or_create(name=site)
    point = ChargePoint.objects.create(
        charge_point_id=charge_point or f"CP-INV-{next(_numbers)}", site=site_row
    )
    return Connector.objects.create(charge_point=point, connector_id=2)


def priced(
    account: BillingAccount | None,
    *,
    stopped_at: datetime,
    net: str,
    vat: str,
    vat_rate: str = "25",
    minutes: int = 75,
    kwh: str = "12.345",
    status: str = Status.TO_INVOICE,
    method: str = SessionCharge.Method.INVOICE,
    currency: str = "SEK",
    at: Connector | None = None,
    lines: list[dict[str, str]] | None = None,
    **fields: Any,
) -> SessionCharge:
    """A finished session and its frozen price: net + VAT as given, gross their sum."""
    where = at or connector()
    started_at = stopped_at - timedelta(minutes=minutes)
    session = ChargingSession.objects.create(
        charge_point=where.charge_point,
        connector=where,
        id_tag=f"TAG{next(_numbers)}",
        status=ChargingSession.Status.COMPLETED,
        started_at=started_at,
        stopped_at=stopped_at,
        meter_start_wh=1000,
        meter_stop_wh=1000 + int(D(kwh) * 1000),
        energy_wh=int(D(kwh) * 1000),
    )
    return SessionCharge.objects.create(
        session=session,
        account=account,
        method=method,
        status=status,
        tariff_name="Standard",
        currency=currency,
        vat_rate=D(vat_rate),
        net=D(net),
        vat=D(vat),
        gross=D(net) + D(vat),
        energy_kwh=D(kwh),
        charging_minutes=D(minutes),
        lines=lines
        if lines is not None
        else [
            {
                "kind": "energy",
                "description": "Energi",
                "quantity": kwh,
                "unit": "kWh",
                "unit_price": "2.5000",
                "net": net,
                "vat": vat,
                "gross": str(D(net) + D(vat)),
                "period": "",
            }
        ],
        priced_at=stopped_at,
        **fields,
    )


def paid(account: BillingAccount | None, **fields: Any) -> SessionCharge:
    fields.setdefault("stopped_at", utc(2026, 3, 14, 17, 20))
    fields.setdefault("net", "40.00")
    fields.setdefault("vat", "10.00")
    return priced(
        account,
        status=Status.PAID,
        method=fields.pop("method", SessionCharge.Method.WALLET),
        paid_at=fields.pop("paid_at", utc(2026, 3, 14, 17, 21)),
        payment_reference=fields.pop("payment_reference", "wallet:7"),
        **fields,
    )


def driver_account(user: User, **fields: Any) -> BillingAccount:
    fields.setdefault("payment_method", BillingAccount.PaymentMethod.INVOICE)
    return BillingAccount.objects.create(user=user, **fields)


def fleet_account(fleet_name: str = "Åkeri Öst", **fields: Any) -> BillingAccount:
    fleet = CustomerGroup.objects.create(name=f"{fleet_name} {next(_numbers)}", kind="fleet")
    return BillingAccount.objects.create(
        fleet=fleet, payment_method=BillingAccount.PaymentMethod.INVOICE, **fields
    )
