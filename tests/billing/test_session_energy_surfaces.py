"""A session's kWh is the same wherever a driver reads it: the receipt PDF, the CSV
export, the statistics page, the charging-finished email, the live figures and the API.

The sessions are built through stations/sessions.py (no charger needed), then settled
and told as the Celery tasks would after commit; the energy rule itself is tested in
tests/stations/test_session_energy.py.
"""

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from billing import documents, settlement
from billing.models import BillingAccount
from billing.wallet import credit_wallet_manually
from notifications import events
from portal import live_figures
from stations import sessions
from stations.models import ChargingSession, Connector, MeterSample
from tests.billing.sessions import charging_site, token_of
from tests.billing.test_invoice_pdf import pdf_text
from users.models import IdToken

pytestmark = pytest.mark.django_db

JANUARY = datetime(2026, 1, 13, 8, tzinfo=UTC)


def reading(session: ChargingSession, minutes: int, wh: str, **fields: object) -> None:
    MeterSample.objects.create(
        charge_point=session.charge_point,
        connector_id=session.connector.connector_id,
        session=session,
        timestamp=session.started_at + timedelta(minutes=minutes),
        value=wh,
        value_decimal=Decimal(wh),
        **fields,
    )


def with_a_meter_reset(connector: Connector, token: IdToken) -> ChargingSession:
    """1000 -> 3000 -> 5000 (4000 Wh), reset to 200, -> 1200 -> 1700 (1500 Wh): 5.5 kWh,
    where meterStop - meterStart says 0.7 and the highest reading minus the first 4.0."""
    session, _ = sessions.open_session(connector, token.uid, JANUARY, 1_000)
    for minutes, wh in ((10, "3000"), (20, "5000"), (30, "200"), (40, "1200")):
        reading(session, minutes, wh)
    reading(session, 25, "11000", measurand="Power.Active.Import", unit="W")  # not energy
    sessions.close_session(session, JANUARY + timedelta(minutes=50), 1_700, "EVDisconnected")
    return session


def without_a_stop_value(connector: Connector, token: IdToken) -> ChargingSession:
    """2000 -> 4000 -> 6250, then ended with no meter value: 4.25 kWh."""
    session, _ = sessions.open_session(connector, token.uid, JANUARY, 2_000)
    reading(session, 15, "4000")
    reading(session, 30, "6250")
    reading(session, 35, "9000", phase="L1")  # a phase, not the total
    sessions.close_session(session, JANUARY + timedelta(minutes=40), None, "Other")
    return session


@pytest.mark.parametrize(
    ("build", "kwh"),
    [(with_a_meter_reset, Decimal("5.500")), (without_a_stop_value, Decimal("4.250"))],
)
def test_a_sessions_kwh_is_the_same_on_every_surface(
    build: Callable[[Connector, IdToken], ChargingSession], kwh: Decimal, driver, staff
):
    driver.language = "en"  # the email in English, as the pages are
    driver.save()
    BillingAccount.objects.create(user=driver, payment_method=BillingAccount.PaymentMethod.WALLET)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    session = build(charging_site(), token_of(driver))
    client = Client()
    client.force_login(driver)
    two_places = f"{kwh:.2f}"

    charge = settlement.settle_session(session.pk)
    receipt_text = pdf_text(documents.render_pdf(charge.document))
    assert re.search(rf"\b{kwh}\b", receipt_text), receipt_text

    rows = list(csv.reader(io.StringIO(client.get(reverse("portal:sessions-csv")).text)))
    assert rows[1][rows[0].index("kWh")] == f"{kwh}"

    statistics = client.get(reverse("portal:money-statistics")).text
    assert two_places in statistics.split("<tbody>")[1].split("</tbody>")[0]

    mail.outbox.clear()  # the receipt's email
    assert events.tell_session_finished(session.pk)
    assert f"Energy: {two_places} kWh" in mail.outbox[0].body

    assert live_figures.figures_message(session)["energy_kwh"] == f"{kwh}"

    api = client.get(f"/api/v1/me/sessions/{session.pk}/").json()
    assert (Decimal(api["energy_wh"]) / 1000, Decimal(api["cost"]["energy_kwh"])) == (kwh, kwh)
