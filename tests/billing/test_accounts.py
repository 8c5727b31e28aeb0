"""billing/accounts.py: who pays for a driver (their fleet, else their own account), the
one lookup that settlement, billing.standing and the payment choice use."""

import pytest

from billing import accounts, payment_choice, standing
from billing.models import BillingAccount
from tests.billing.invoicing_data import fleet_account

pytestmark = pytest.mark.django_db


def test_a_new_driver_pays_by_monthly_invoice_unless_configured_otherwise(driver, settings):
    assert accounts.payer_for(driver).payment_method == BillingAccount.PaymentMethod.INVOICE

    settings.BILLING_DEFAULT_PAYMENT_METHOD = "wallet"
    assert accounts.payer_for(driver).payment_method == BillingAccount.PaymentMethod.INVOICE


def test_looking_the_payer_up_without_creating_writes_no_account(driver, settings):
    settings.BILLING_DEFAULT_PAYMENT_METHOD = "wallet"

    assert accounts.payer_for(driver, create=False) is None
    assert accounts.payment_method_of(None) == "wallet"
    # Asked as a charger asks, and as the start form asks: still nothing written.
    assert standing.payer_refusal(driver) is not None  # an empty wallet
    payment_choice.options_for(driver)

    assert not BillingAccount.objects.filter(user=driver).exists()


def test_a_fleet_member_is_paid_for_by_the_fleet_however_the_payer_is_looked_up(driver, settings):
    settings.BILLING_DEFAULT_PAYMENT_METHOD = "wallet"
    fleet = fleet_account()
    fleet.fleet.members.add(driver)
    BillingAccount.objects.create(user=driver, payment_method="wallet")  # empty wallet

    assert accounts.payer_for(driver) == fleet
    assert accounts.payer_for(driver, create=False) == fleet
    # The company's invoice pays, so the driver's own empty wallet stops nothing.
    assert standing.payer_refusal(driver, "wallet") is None
    assert payment_choice.options_for(driver).company_pays
