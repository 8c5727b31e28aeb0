"""`manage.py load_billing_demo`: the billing `make run` shows, safe to run again."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing import accounts
from billing.models import BillingAccount, Tariff, TariffAssignment, WalletEntry
from billing.tariffs import price_preview
from billing.wallet import wallet_balance
from stations.authorization import id_tag_info
from stations.models import Connector
from users.models import User

pytestmark = pytest.mark.django_db


def load(*commands: str) -> None:
    for command in commands:
        call_command(command, stdout=StringIO())


def test_demo_drivers_pay_three_ways_and_the_demo_site_has_a_price(settings):
    settings.DEBUG = True
    load("load_demo", "load_billing_demo", "load_billing_demo")

    alva = User.objects.get(email="alva@example.com")
    assert wallet_balance(alva) == Decimal("500.00")
    assert WalletEntry.objects.count() == 1
    assert accounts.payer_for(alva).payment_method == BillingAccount.PaymentMethod.WALLET
    van = User.objects.get(email="van@example.com")
    assert accounts.payer_for(van).display_name == "Demo Taxi AB"
    assert Tariff.objects.count() == 1
    assert TariffAssignment.objects.count() == 1
    connector = Connector.objects.filter(charge_point__charge_point_id="DEMO-001").first()
    assert price_preview(connector, alva).price_per_kwh.gross in {
        Decimal("4.0000"),  # day: 3.20 net + 25 % VAT
        Decimal("3.0000"),  # night
    }
    for uid in ("DEMO-RFID-0001", "DEMO-RFID-0002", "DEMO-RFID-0003"):
        assert id_tag_info(uid, timezone.now())["status"] == "Accepted"


def test_billing_demo_needs_debug_and_the_stations_demo(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        load("load_billing_demo")
    settings.DEBUG = True
    with pytest.raises(CommandError, match="load_demo"):
        load("load_billing_demo")


def test_demo_drivers_log_in_to_the_portal_with_the_published_password(settings, client):
    settings.DEBUG = True
    load("load_demo", "load_billing_demo")

    response = client.post(
        "/accounts/login/", {"login": "alva@example.com", "password": "chargehub-demo-driver"}
    )

    assert response.status_code == 302
    assert client.get("/account/").status_code == 200
