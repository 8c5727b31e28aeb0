"""A guest at a real charger, for tests/billing/test_guest*.py.

The charger is the simulated one of tests/conftest.py, connected over a WebSocket to a
real `manage.py serve`; Stripe is localstripe. What the browser does with Stripe.js
(confirmCardPayment) is done here against localstripe, with Stripe's test cards.
"""

from datetime import UTC, datetime, time
from decimal import Decimal
from itertools import count
from typing import Any

import stripe
from asgiref.sync import sync_to_async

from billing import guest, settlement
from billing.models import GuestPayment, SessionCharge, Tariff, TariffAssignment, TimeOfUsePeriod
from stations.models import ChargePoint, Connector, Site
from tests.billing.conftest import SECRET_KEY
from tests.stations.ocpp_wire import ago, iso, send

# 4 SEK per kWh net, 25 % VAT: 5 SEK per kWh for the guest, nothing else.
PRICE_PER_KWH = Decimal("4.00")
_numbers = count(1)


def priced_site(**tariff_fields: Any) -> Site:
    """A site whose tariff is PRICE_PER_KWH net per kWh (unless given) and 25 % VAT."""
    site = Site.objects.create(name=f"Guest site {next(_numbers)}", time_zone="Europe/Stockholm")
    tariff = Tariff.objects.create(
        name="Guest tariff",
        vat_rate=Decimal(25),
        **{"price_per_kwh": PRICE_PER_KWH, **tariff_fields},
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    return site


def rich_tariff_site() -> Site:
    """Every kind of price, and a night period, for the connector page."""
    site = priced_site(
        price_per_minute=Decimal("0.40"),
        session_fee=Decimal("10.00"),
        idle_fee_per_minute=Decimal("1.00"),
        idle_grace_minutes=15,
        min_price=Decimal("20.00"),
        max_price=Decimal("300.00"),
    )
    tariff = Tariff.objects.get(assignments__site=site)
    TimeOfUsePeriod.objects.create(
        tariff=tariff,
        name="Night",
        weekdays="12345",
        start_time=time(22),
        end_time=time(6),
        price_per_kwh=Decimal("2.00"),
    )
    return site


def connector_in_database(
    charge_point_id: str,
    *,
    site: Site | None,
    online: bool = True,
    status: str = Connector.Status.AVAILABLE,
) -> Connector:
    """A connector as the database knows it, for pages that only read that state."""
    charge_point = ChargePoint.objects.create(
        charge_point_id=charge_point_id,
        site=site,
        is_connected=online,
        last_seen_at=datetime.now(UTC) if online else None,
    )
    return Connector.objects.create(charge_point=charge_point, connector_id=1, status=status)


async def report_status(cp: Any, status: str = "Available", connector_id: int = 1) -> None:
    await send(
        cp,
        "StatusNotification",
        {
            "connectorId": connector_id,
            "errorCode": "NoError",
            "status": status,
            "timestamp": iso(ago(seconds=1)),
        },
    )


def connector_of(charge_point_id: str, connector_id: int = 1) -> Connector:
    return Connector.objects.select_related("charge_point").get(
        charge_point__charge_point_id=charge_point_id, connector_id=connector_id
    )


def pay_as_the_browser_would(
    guest_payment: GuestPayment, card: str = "pm_card_visa"
) -> stripe.PaymentIntent | stripe.CardError:
    """What Stripe.js confirmCardPayment does with the client_secret: card, then confirm.

    localstripe answers "Not implemented" to a payment_method sent with /confirm, so
    the card is set on the PaymentIntent first; the outcome is the same. A declined
    card comes back as the CardError Stripe.js would show.
    """
    stripe.PaymentIntent.modify(
        guest_payment.payment_intent_id, payment_method=card, api_key=SECRET_KEY
    )
    try:
        return stripe.PaymentIntent.confirm(guest_payment.payment_intent_id, api_key=SECRET_KEY)
    except stripe.CardError as error:
        return error


def intent_at_stripe(guest_payment: GuestPayment) -> stripe.PaymentIntent:
    return stripe.PaymentIntent.retrieve(guest_payment.payment_intent_id, api_key=SECRET_KEY)


def received_at_stripe(guest_payment: GuestPayment) -> int:
    """What Stripe took from the card, in öre: the PaymentIntent's amount_received.

    localstripe does not keep amount_received; it captures the charge in full and
    refunds what was not captured, so the same number is the charge less its refunds.
    """
    intent = intent_at_stripe(guest_payment)
    received = intent.to_dict().get("amount_received")
    if received is not None:
        return received
    if not intent.latest_charge:
        return 0
    charge_id = (
        intent.latest_charge if isinstance(intent.latest_charge, str) else intent.latest_charge.id
    )
    charge = stripe.Charge.retrieve(charge_id, api_key=SECRET_KEY)
    return charge.amount - charge.amount_refunded if charge.captured else 0


def remote_starts(cp: Any) -> list[dict[str, Any]]:
    return [request for action, request in cp.received if action == "RemoteStartTransaction"]


async def start_transaction(
    cp: Any, id_tag: str, meter_start: int = 1000, timestamp: str = ""
) -> dict[str, Any]:
    """Start on connector 1; the charger's clock says 30 minutes ago unless `timestamp`."""
    return await send(
        cp,
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": id_tag,
            "meterStart": meter_start,
            "timestamp": timestamp or iso(ago(minutes=30)),
        },
    )


async def stop_transaction(cp: Any, transaction_id: int, meter_stop: int) -> dict[str, Any]:
    return await send(
        cp,
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "meterStop": meter_stop,
            "timestamp": iso(ago(minutes=1)),
            "reason": "EVDisconnected",
        },
    )


async def guest_session(
    charger: Any, charge_point_id: str, *, wh: int, email: str = "guest@example.com"
) -> tuple[GuestPayment, SessionCharge]:
    """A guest pays, the charger starts, charges `wh` Wh, stops; the session is priced.

    The price is frozen by billing.settlement.freeze_price (idempotent: the server may
    have frozen it already when the charger stopped), and not yet collected here.
    """
    site = await sync_to_async(priced_site)()
    async with charger(charge_point_id, site=site) as cp:
        await report_status(cp)
        connector = await sync_to_async(connector_of)(charge_point_id)
        guest_payment = await sync_to_async(guest.start)(connector, email=email, language="en")
        await sync_to_async(pay_as_the_browser_would)(guest_payment)
        guest_payment = await sync_to_async(guest.card_authorised)(guest_payment)
        assert guest_payment.status == GuestPayment.Status.STARTED, guest_payment.error
        started = await start_transaction(cp, guest_payment.id_tag)
        assert started["idTagInfo"]["status"] == "Accepted"
        await stop_transaction(cp, started["transactionId"], 1000 + wh)
    charge = await sync_to_async(settlement.freeze_price)(started["transactionId"])
    assert charge is not None
    await sync_to_async(guest_payment.refresh_from_db)()
    return guest_payment, charge
