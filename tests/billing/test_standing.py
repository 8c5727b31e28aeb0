"""billing/standing.py through stations.authorization: what a charger is told when the
payer owes money or the prepaid wallet is nearly empty (IdTagInfo Blocked)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import BillingAccount, CustomerGroup, SessionCharge
from billing.standing import payer_refusal
from billing.wallet import credit_wallet_manually
from stations.authorization import id_tag_info
from tests.billing.sessions import charging_site, finished_session, token_of
from tests.stations.ocpp_wire import send
from users.models import IdToken, User

STARTED = datetime(2026, 3, 10, 8, tzinfo=UTC)


def status(token: IdToken) -> str:
    return id_tag_info(token.uid, timezone.now())["status"]


def failed_charge(user_or_account, attempts: int) -> SessionCharge:
    account = (
        user_or_account
        if isinstance(user_or_account, BillingAccount)
        else BillingAccount.objects.get_or_create(user=user_or_account)[0]
    )
    owner = account.user or account.fleet.members.first()
    session = finished_session(charging_site(), token_of(owner), started_at=STARTED, wh=9_000)
    return SessionCharge.objects.create(
        session=session,
        account=account,
        method=SessionCharge.Method.CARD,
        status=SessionCharge.Status.FAILED,
        failed_attempts=attempts,
        gross=Decimal("11.25"),
        priced_at=timezone.now(),
    )


@pytest.mark.django_db
def test_wallet_payer_below_the_minimum_is_blocked_until_topped_up(driver, staff, settings):
    settings.BILLING_WALLET_MINIMUM = Decimal(50)
    BillingAccount.objects.create(user=driver, payment_method="wallet")
    token = token_of(driver)
    credit_wallet_manually(driver, Decimal("49.99"), staff=staff, reason="Cash")
    assert status(token) == "Blocked"
    assert "49.99" in payer_refusal(driver)

    credit_wallet_manually(driver, Decimal("0.01"), staff=staff, reason="Cash")
    assert status(token) == "Accepted"


@pytest.mark.django_db
def test_wallet_minimum_does_not_apply_to_other_payment_methods(driver, settings):
    settings.BILLING_WALLET_MINIMUM = Decimal(50)
    BillingAccount.objects.create(user=driver, payment_method="invoice")
    assert status(token_of(driver)) == "Accepted"


@pytest.mark.django_db
def test_default_method_wallet_blocks_a_new_driver_with_an_empty_wallet(driver, settings):
    settings.BILLING_DEFAULT_PAYMENT_METHOD = "wallet"
    assert status(token_of(driver)) == "Blocked"
    assert not BillingAccount.objects.exists()  # answering a charger creates nothing


@pytest.mark.django_db
def test_failed_payments_block_after_the_configured_count(driver, settings):
    settings.BILLING_BLOCK_AFTER_FAILED_PAYMENTS = 3
    BillingAccount.objects.create(user=driver, payment_method="card")
    token = token_of(driver)
    first = failed_charge(driver, attempts=2)
    assert status(token) == "Accepted"

    failed_charge(driver, attempts=1)
    assert status(token) == "Blocked"
    assert "3 failed card payments" in payer_refusal(driver)

    first.status = SessionCharge.Status.PAID
    first.save()
    assert status(token) == "Accepted"


@pytest.mark.django_db
def test_unpaid_fleet_blocks_every_member(make_user, settings):
    settings.BILLING_BLOCK_AFTER_FAILED_PAYMENTS = 1
    fleet = CustomerGroup.objects.create(name="Budbilar", kind=CustomerGroup.Kind.FLEET)
    company = BillingAccount.objects.create(fleet=fleet, payment_method="invoice")
    members = [make_user(), make_user()]
    fleet.members.add(*members)
    failed_charge(company, attempts=1)

    assert [status(token_of(member)) for member in members] == ["Blocked", "Blocked"]


@pytest.mark.django_db
def test_tokens_without_an_owner_and_blocked_tokens_are_not_changed(settings):
    settings.BILLING_DEFAULT_PAYMENT_METHOD = "wallet"
    assert status(token_of(None)) == "Accepted"
    blocked = IdToken.objects.create(uid="STAFF-BLOCKED", status=IdToken.Status.BLOCKED)
    assert status(blocked) == "Blocked"


def _wallet_driver(email: str, amount: Decimal) -> None:
    driver = User.objects.create_user(email)
    staff = User.objects.create_user(f"staff-{email}", is_staff=True)
    BillingAccount.objects.create(user=driver, payment_method="wallet")
    credit_wallet_manually(driver, amount, staff=staff, reason="Cash")
    IdToken.objects.create(uid=email.split("@")[0].upper()[:20], owner=driver)


async def test_charger_is_told_blocked_when_the_wallet_is_below_the_minimum(charger):
    # The server's minimum is the default, 50 SEK.
    await sync_to_async(_wallet_driver)("poor@example.com", Decimal("20"))
    await sync_to_async(_wallet_driver)("rich@example.com", Decimal("500"))
    async with charger("CP-STANDING") as cp:
        poor = await send(cp, "Authorize", {"idTag": "POOR"})
        rich = await send(cp, "Authorize", {"idTag": "RICH"})
    assert poor == {"idTagInfo": {"status": "Blocked"}}
    assert rich == {"idTagInfo": {"status": "Accepted"}}
