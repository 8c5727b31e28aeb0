"""Drivers, chargers and sessions for the support tests (operations/support.py)."""

from datetime import UTC, datetime
from decimal import Decimal

from billing import settlement
from billing.models import BillingAccount, SessionCharge
from billing.wallet import credit_wallet_manually
from stations.models import ChargingSession, Connector
from tests.billing.sessions import charging_site, finished_session, token_of
from users.models import User

STARTED = datetime(2026, 3, 10, 8, tzinfo=UTC)


def second_connector(connector: Connector) -> Connector:
    return Connector.objects.create(charge_point=connector.charge_point, connector_id=2)


def session_of(
    driver: User, connector: Connector | None = None, wh: int = 10_000
) -> ChargingSession:
    """A finished session of the driver's (10 kWh at 1 SEK/kWh net: 12.50 SEK)."""
    return finished_session(
        connector or charging_site("Support"), token_of(driver), started_at=STARTED, wh=wh
    )


def paid_from_wallet(driver: User, staff: User) -> ChargingSession:
    """A session the driver paid from their wallet, with its receipt (12.50 SEK)."""
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    BillingAccount.objects.update_or_create(user=driver, defaults={"payment_method": "wallet"})
    session = session_of(driver)
    charge = settlement.settle_session(session.pk)
    charge.refresh_from_db()
    assert charge.status == SessionCharge.Status.PAID and charge.document is not None
    return session
