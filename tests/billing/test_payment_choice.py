"""billing/payment_choice.py: how a driver pays for the one session they start, and how
that session claims the choice when it is priced (billing.settlement.freeze_price)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from billing import payment_choice, settlement
from billing.models import (
    BillingAccount,
    CustomerGroup,
    GuestPayment,
    PaymentChoice,
    SessionCharge,
    WalletEntry,
)
from billing.payment_choice import PaymentChoiceRefused
from billing.wallet import credit_wallet_manually, wallet_balance
from stations.models import ChargingSession, Connector
from tests.billing.conftest import saved_card
from tests.billing.guest_charging import (
    connector_of,
    priced_site,
    report_status,
    start_transaction,
    stop_transaction,
)
from tests.billing.sessions import charging_site, finished_session, token_of
from tests.stations.ocpp_wire import ago, iso
from users.models import User

Method = BillingAccount.PaymentMethod


def account(user: User, method: str) -> BillingAccount:
    return BillingAccount.objects.create(user=user, payment_method=method)


def chosen(user: User, connector: Connector, method: str, minutes_ago: float) -> PaymentChoice:
    """A choice made `minutes_ago` (negative: after now)."""
    return PaymentChoice.objects.create(
        user=user,
        connector=connector,
        method=method,
        chosen_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def session_received_now(connector: Connector, user: User, wh: int = 10_000) -> ChargingSession:
    """A finished session whose StartTransaction the server received now, though the
    charger's clock put its start a day earlier (a clock the server does not trust)."""
    return finished_session(
        connector, token_of(user), started_at=timezone.now() - timedelta(days=1), wh=wh
    )


def fleet_member(make_user) -> tuple[User, BillingAccount]:
    fleet = CustomerGroup.objects.create(name="Taxi Malmö", kind=CustomerGroup.Kind.FLEET)
    company = BillingAccount.objects.create(fleet=fleet, payment_method=Method.INVOICE)
    member = make_user()
    fleet.members.add(member)
    return member, company


# --- Choosing --------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_saved_card_wallet_and_invoice_are_offered_and_card_is_refused(driver, staff):
    account(driver, Method.WALLET)
    credit_wallet_manually(driver, Decimal(150), staff=staff, reason="Cash")
    connector = charging_site()

    options = payment_choice.options_for(driver)

    assert options.methods == [Method.WALLET, Method.INVOICE]
    assert options.default == Method.WALLET
    assert [option.label for option in options.options] == [
        "Wallet (balance 150.00\u00a0SEK)",
        "Monthly invoice",
    ]
    with pytest.raises(PaymentChoiceRefused, match="Save a card first"):
        payment_choice.choose(driver, connector, Method.CARD)
    assert not PaymentChoice.objects.exists()


@pytest.mark.django_db
def test_a_saved_card_is_offered_with_its_last_digits_from_the_local_copy(
    driver, stripe_configured, settings
):
    account(driver, Method.INVOICE)
    saved_card(driver)
    # Stripe out of reach: the form still knows the card (dj-stripe's copy).
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    connector = charging_site()

    options = payment_choice.options_for(driver)
    choice = payment_choice.choose(driver, connector, Method.CARD)

    assert ("card", "Card •••• 4242") in [(o.method, o.label) for o in options.options]
    assert options.default == Method.INVOICE
    assert (choice.user, choice.connector, choice.method) == (driver, connector, Method.CARD)
    assert choice.session is None


@pytest.mark.django_db
def test_a_method_the_operator_does_not_offer_is_refused_unless_it_is_the_drivers_own(
    driver, make_user, settings
):
    settings.BILLING_DRIVER_PAYMENT_METHODS = ["wallet", "card"]
    connector = charging_site()
    account(driver, Method.WALLET)
    with pytest.raises(PaymentChoiceRefused, match="not offered"):
        payment_choice.choose(driver, connector, Method.INVOICE)

    # Staff put this driver on the monthly invoice: it stays theirs to choose.
    invoiced = make_user()
    account(invoiced, Method.INVOICE)
    assert payment_choice.options_for(invoiced).methods == [Method.WALLET, Method.INVOICE]
    assert payment_choice.choose(invoiced, connector, Method.INVOICE).method == Method.INVOICE


@pytest.mark.django_db
def test_an_unknown_method_is_refused(driver):
    with pytest.raises(PaymentChoiceRefused, match="Unknown payment method"):
        payment_choice.choose(driver, charging_site(), "bitcoin")


@pytest.mark.django_db
def test_a_fleet_member_has_nothing_to_choose(make_user):
    member, _company = fleet_member(make_user)

    options = payment_choice.options_for(member)

    assert (options.options, options.company_pays) == ((), True)
    assert options.note == "Your company pays for this charge."
    with pytest.raises(PaymentChoiceRefused, match="Your company pays"):
        payment_choice.choose(member, charging_site(), Method.WALLET)


# --- Claiming --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_session_claims_the_newest_choice_made_shortly_before_the_server_received_it(
    driver, make_user
):
    connector = charging_site()
    other_connector = charging_site()
    too_old = chosen(driver, connector, Method.CARD, minutes_ago=16)
    older = chosen(driver, connector, Method.INVOICE, minutes_ago=10)
    newest = chosen(driver, connector, Method.WALLET, minutes_ago=2)
    elsewhere = chosen(driver, other_connector, Method.CARD, minutes_ago=1)
    someone_elses = chosen(make_user(), connector, Method.CARD, minutes_ago=1)
    session = session_received_now(connector, driver)
    later = chosen(driver, connector, Method.CARD, minutes_ago=-1)

    assert payment_choice.claim_for(session, driver) == newest
    # Asked again (a retried settlement): the same choice, nothing else claimed.
    assert payment_choice.claim_for(session, driver) == newest
    claimed = PaymentChoice.objects.filter(session__isnull=False)
    assert list(claimed) == [newest]
    for unclaimed in (too_old, older, elsewhere, someone_elses, later):
        unclaimed.refresh_from_db()
        assert unclaimed.session is None


@pytest.mark.django_db
def test_a_choice_is_claimed_by_one_session_only(driver):
    connector = charging_site()
    choice = chosen(driver, connector, Method.WALLET, minutes_ago=3)
    first = session_received_now(connector, driver)
    second = session_received_now(connector, driver)

    assert payment_choice.claim_for(first, driver) == choice
    assert payment_choice.claim_for(second, driver) is None


# --- Settling by the choice ------------------------------------------------------------


@pytest.mark.django_db
def test_wallet_chosen_by_an_invoiced_driver_is_debited_from_the_wallet(driver, staff):
    account(driver, Method.INVOICE)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash")
    connector = charging_site()  # 1 SEK per kWh net, 25 % VAT
    chosen(driver, connector, Method.WALLET, minutes_ago=4)
    session = session_received_now(connector, driver, wh=10_000)

    charge = settlement.settle_session(session.pk)
    settlement.settle_session(session.pk)  # a retried task

    charge.refresh_from_db()
    assert charge.method == SessionCharge.Method.WALLET
    assert charge.status == SessionCharge.Status.PAID
    assert wallet_balance(driver) == Decimal("87.50")
    assert WalletEntry.objects.filter(kind=WalletEntry.Kind.DEBIT).count() == 1
    assert PaymentChoice.objects.get().session == session
    # The account keeps its own method for the next session.
    assert BillingAccount.objects.get(user=driver).payment_method == Method.INVOICE


@pytest.mark.django_db
def test_without_a_choice_the_account_method_applies(driver):
    account(driver, Method.INVOICE)
    connector = charging_site()
    chosen(driver, connector, Method.WALLET, minutes_ago=20)  # expired
    session = session_received_now(connector, driver)

    charge = settlement.freeze_price(session.pk)

    assert (charge.method, charge.status) == (
        SessionCharge.Method.INVOICE,
        SessionCharge.Status.TO_INVOICE,
    )


@pytest.mark.django_db
def test_a_fleet_members_choice_is_ignored_and_the_company_is_invoiced(make_user):
    member, company = fleet_member(make_user)
    connector = charging_site()
    # Made while the driver was not yet in the fleet.
    choice = chosen(member, connector, Method.WALLET, minutes_ago=3)
    session = session_received_now(connector, member)

    charge = settlement.freeze_price(session.pk)

    assert (charge.account, charge.method) == (company, SessionCharge.Method.INVOICE)
    choice.refresh_from_db()
    assert choice.session is None


@pytest.mark.django_db
def test_a_guest_session_ignores_choices(driver):
    connector = charging_site()
    choice = chosen(driver, connector, Method.WALLET, minutes_ago=3)
    session = session_received_now(connector, driver)
    GuestPayment.objects.create(
        connector=connector,
        id_tag=session.id_tag,
        amount_authorised=Decimal("300.00"),
        status=GuestPayment.Status.STARTED,
        session=session,
    )

    charge = settlement.freeze_price(session.pk)

    assert (charge.account, charge.method) == (None, SessionCharge.Method.GUEST)
    choice.refresh_from_db()
    assert choice.session is None


def _invoiced_driver_with_two_choices(charge_point_id: str) -> tuple[User, list[PaymentChoice]]:
    driver = User.objects.create_user(f"{charge_point_id.lower()}@example.com", "pw")
    staff = User.objects.create_user(f"staff-{charge_point_id.lower()}@example.com", is_staff=True)
    account(driver, Method.INVOICE)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="test")
    token_of(driver, uid=charge_point_id[-10:])
    connector = connector_of(charge_point_id)
    # Start pressed twice: first by invoice, then (changing their mind) from the wallet.
    return driver, [
        chosen(driver, connector, Method.INVOICE, minutes_ago=2),
        chosen(driver, connector, Method.WALLET, minutes_ago=1),
    ]


async def test_a_retransmitted_start_transaction_claims_one_choice_once(charger):
    site = await sync_to_async(priced_site)()  # 4 SEK per kWh net, 25 % VAT
    async with charger("CHOICE-RESEND", site=site) as cp:
        await report_status(cp)
        driver, (by_invoice, from_wallet) = await sync_to_async(_invoiced_driver_with_two_choices)(
            "CHOICE-RESEND"
        )
        # The charger's clock says 30 minutes ago: the choice is matched by the server's.
        started = iso(ago(minutes=30))
        first = await start_transaction(cp, "CHOICE-RESEND"[-10:], timestamp=started)
        # The answer was lost: the charger resends the same request.
        again = await start_transaction(cp, "CHOICE-RESEND"[-10:], timestamp=started)
        assert again["transactionId"] == first["transactionId"]
        await stop_transaction(cp, first["transactionId"], 1000 + 2_000)

    # The server settled it when the charger stopped; settling again changes nothing.
    charge = await sync_to_async(settlement.settle_session)(first["transactionId"])
    assert charge.method == SessionCharge.Method.WALLET
    assert charge.status == SessionCharge.Status.PAID
    assert await sync_to_async(wallet_balance)(driver) == Decimal("90.00")
    await sync_to_async(from_wallet.refresh_from_db)()
    await sync_to_async(by_invoice.refresh_from_db)()
    assert from_wallet.session_id == first["transactionId"]
    assert by_invoice.session_id is None
    assert await sync_to_async(ChargingSession.objects.count)() == 1


@pytest.mark.django_db
def test_staff_see_choices_and_the_sessions_that_claimed_them_read_only(admin_client, driver):
    account(driver, Method.INVOICE)
    connector = charging_site()
    choice = chosen(driver, connector, Method.WALLET, minutes_ago=3)
    session = session_received_now(connector, driver)
    settlement.freeze_price(session.pk)

    page = admin_client.get("/admin/billing/paymentchoice/")

    assert page.status_code == 200
    assert driver.email in page.content.decode() and f"#{session.pk}" in page.content.decode()
    assert admin_client.get("/admin/billing/paymentchoice/add/").status_code == 403
    change = admin_client.post(f"/admin/billing/paymentchoice/{choice.pk}/change/", {})
    assert change.status_code == 403
