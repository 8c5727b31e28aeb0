"""Choosing how to pay for a session when starting it: the station page's start forms,
the portal's start, and the API's start (billing/payment_choice.py is the rule).
Cards are saved at localstripe (tests/billing/conftest.py); starts reach a real
simulated charger."""

# The localstripe fixtures are imported from tests/billing/conftest.py; pytest finds
# them by the argument names, which ruff reads as redefinitions.
# ruff: noqa: F811

import re
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from billing.models import (
    BillingAccount,
    CustomerGroup,
    PaymentChoice,
    PlanSubscription,
    SubscriptionPlan,
)
from billing.wallet import credit_wallet_manually
from stations.models import ChargePoint, ChargerCommand, Site
from tests.billing.conftest import (  # noqa: F401 (fixtures)
    localstripe_url,
    saved_card,
    stripe_configured,
)
from tests.billing.guest_charging import connector_of, report_status, start_transaction
from tests.portal.places import first_connector, place, token_of
from users.models import User

Method = BillingAccount.PaymentMethod


def account(user: User, method: str) -> BillingAccount:
    return BillingAccount.objects.create(user=user, payment_method=method)


def radios(page: str) -> dict[str, str]:
    """The payment radio buttons of the page's first start form: value -> attributes."""
    return dict(re.findall(r'<input type="radio" name="payment" value="(\w+)"([^>]*)>', page))


def station_page(client: Client, site: Site) -> str:
    response = client.get(reverse("portal:station", args=[site.pk]))
    assert response.status_code == 200
    return response.content.decode()


def start(client: Client, site: Site, payment: str) -> object:
    return client.post(
        reverse("portal:start"), {"connector": first_connector(site).pk, "payment": payment}
    )


# --- The start form ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_form_offers_wallet_and_invoice_without_a_card_with_the_accounts_own_selected(
    driver, driver_client, make_user
):
    account(driver, Method.WALLET)
    credit_wallet_manually(driver, Decimal(150), staff=make_user(is_staff=True), reason="Cash")

    page = station_page(driver_client, place("Choose"))

    assert radios(page) == {"wallet": " checked", "invoice": ""}
    assert "Wallet (balance 150.00\u00a0SEK)" in page
    assert "Monthly invoice" in page


@pytest.mark.django_db
def test_invoice_is_offered_only_where_the_operator_offers_it(driver, driver_client, settings):
    settings.BILLING_DRIVER_PAYMENT_METHODS = ["wallet", "card"]
    settings.BILLING_WALLET_MINIMUM = Decimal(0)
    account(driver, Method.WALLET)

    page = station_page(driver_client, place("No credit"))

    assert radios(page) == {"wallet": " checked"}


@pytest.mark.django_db
def test_a_saved_card_is_offered_by_its_last_digits(stripe_configured, driver, driver_client):
    account(driver, Method.CARD)
    saved_card(driver)

    page = station_page(driver_client, place("Card"))

    assert radios(page)["card"] == " checked"
    assert "Card •••• 4242" in page


@pytest.mark.django_db
def test_a_low_wallet_is_shown_greyed_with_the_reason_and_another_method_selected(
    driver, driver_client
):
    account(driver, Method.WALLET)  # empty, under BILLING_WALLET_MINIMUM

    page = station_page(driver_client, place("Low wallet"))

    assert radios(page) == {"wallet": " disabled", "invoice": " checked"}
    assert "at least 50 SEK is needed to start" in page
    assert '<button type="submit">' in page  # the start button works, by invoice


@pytest.mark.django_db
def test_a_subscriber_is_told_their_plan_price_applies(driver, driver_client):
    group = CustomerGroup.objects.create(name="Plus members", kind=CustomerGroup.Kind.PLAN)
    plan = SubscriptionPlan.objects.create(
        name="Plus", customer_group=group, monthly_fee=Decimal(99)
    )
    PlanSubscription.objects.create(
        user=driver, plan=plan, stripe_subscription_id="sub_plus_1", status="active"
    )

    page = station_page(driver_client, place("Subscriber"))

    assert "Your subscription price applies (Plus)." in page
    assert "invoice" in radios(page)  # still paid by a method of their choice


@pytest.mark.django_db
def test_a_fleet_member_is_told_the_company_pays_and_cannot_choose(driver, driver_client):
    fleet = CustomerGroup.objects.create(name="Taxi Lund", kind=CustomerGroup.Kind.FLEET)
    BillingAccount.objects.create(fleet=fleet, payment_method=Method.INVOICE)
    fleet.members.add(driver)
    site = place("Fleet")

    page = station_page(driver_client, site)
    response = start(driver_client, site, Method.WALLET)

    assert radios(page) == {}
    assert "Your company pays for this charge." in page
    assert response.status_code == 400
    assert "Your company pays for your charging" in response.content.decode()
    assert not PaymentChoice.objects.exists()


# --- Starting with a choice -------------------------------------------------------------


@pytest.mark.django_db
def test_choosing_card_without_a_saved_card_is_a_form_error(driver, driver_client):
    account(driver, Method.INVOICE)

    response = start(driver_client, place("No card"), Method.CARD)

    assert response.status_code == 400
    assert "Save a card first" in response.content.decode()
    assert not ChargerCommand.objects.exists()
    assert not PaymentChoice.objects.exists()


@pytest.mark.django_db
def test_an_unknown_method_is_a_form_error(driver_client):
    response = start(driver_client, place("Unknown"), "bitcoin")

    assert response.status_code == 400
    assert not ChargerCommand.objects.exists()


@pytest.mark.django_db
def test_choosing_a_wallet_below_the_minimum_is_refused_with_the_reason(driver, driver_client):
    account(driver, Method.INVOICE)  # the account's own method would do

    response = start(driver_client, place("Short"), Method.WALLET)

    assert response.status_code == 403
    assert "at least 50 SEK is needed to start" in response.content.decode()
    assert not ChargerCommand.objects.exists()
    assert not PaymentChoice.objects.exists()


def _wallet_driver_with_a_card(charge_point_id: str) -> tuple[User, Client]:
    site = Site.objects.create(name=f"Portal {charge_point_id}", city="Lund")
    ChargePoint.objects.filter(charge_point_id=charge_point_id).update(site=site)
    driver = User.objects.create_user(f"{charge_point_id.lower()}@example.com", "pw")
    account(driver, Method.WALLET)  # and nothing in it
    saved_card(driver)
    browser = Client()
    browser.force_login(driver)
    return driver, browser


async def test_card_chosen_with_a_low_wallet_starts_at_the_charger(charger, stripe_configured):
    async with charger("PORTAL-PAY-CARD") as cp:
        await cp.boot()
        await report_status(cp)
        driver, browser = await sync_to_async(_wallet_driver_with_a_card)("PORTAL-PAY-CARD")
        connector = await sync_to_async(connector_of)("PORTAL-PAY-CARD")

        refused = await sync_to_async(browser.post)(
            reverse("portal:start"), {"connector": connector.pk, "payment": Method.WALLET}
        )
        assert refused.status_code == 403
        assert cp.received == []

        response = await sync_to_async(browser.post)(
            reverse("portal:start"), {"connector": connector.pk, "payment": Method.CARD}
        )
        assert response.status_code == 302
        [(action, request)] = cp.received
        assert action == "RemoteStartTransaction"
        assert request["connector_id"] == 1
        choice = await sync_to_async(PaymentChoice.objects.get)()
        assert (choice.user_id, choice.connector_id) == (driver.pk, connector.pk)
        assert (choice.method, choice.session_id) == (Method.CARD, None)

        # The charger asks about the token once the car takes the charge: the answer
        # judges the card the driver chose, not the empty wallet, or the charger would
        # stop the session at once.
        started = await start_transaction(cp, request["id_tag"])
        assert started["idTagInfo"]["status"] == "Accepted"


async def test_without_a_choice_a_low_wallet_still_blocks_at_the_charger(
    charger, stripe_configured
):
    async with charger("PORTAL-PAY-NONE") as cp:
        await cp.boot()
        await report_status(cp)
        driver, _browser = await sync_to_async(_wallet_driver_with_a_card)("PORTAL-PAY-NONE")
        token = await sync_to_async(token_of)(driver)
        started = await start_transaction(cp, token.uid)
        assert started["idTagInfo"]["status"] == "Blocked"


# --- The API's start --------------------------------------------------------------------


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
def test_the_api_refuses_an_unusable_payment_method_with_the_reason(driver):
    account(driver, Method.INVOICE)
    token_of(driver)
    connector = first_connector(place("API card"))

    no_card = api_for(driver).post(
        "/api/v1/me/sessions/start/",
        {"connector": connector.pk, "payment_method": "card"},
        format="json",
    )
    unknown = api_for(driver).post(
        "/api/v1/me/sessions/start/",
        {"connector": connector.pk, "payment_method": "bitcoin"},
        format="json",
    )

    assert no_card.status_code == 400
    assert "Save a card first" in no_card.json()["payment_method"][0]
    assert unknown.status_code == 400
    assert "payment_method" in unknown.json()
    assert not ChargerCommand.objects.exists()
    assert not PaymentChoice.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_a_wallet_below_the_minimum_when_chosen(driver):
    account(driver, Method.INVOICE)
    token_of(driver)
    connector = first_connector(place("API wallet"))

    response = api_for(driver).post(
        "/api/v1/me/sessions/start/",
        {"connector": connector.pk, "payment_method": "wallet"},
        format="json",
    )

    assert response.status_code == 403
    assert "at least 50 SEK is needed to start" in response.json()["detail"]
    assert not PaymentChoice.objects.exists()


async def test_the_api_records_the_chosen_method_and_starts(charger):
    async with charger("API-PAY-INVOICE") as cp:
        await cp.boot()
        await report_status(cp)
        connector = await sync_to_async(connector_of)("API-PAY-INVOICE")
        driver = await sync_to_async(User.objects.create_user)("api-pay@example.com", "pw")
        await sync_to_async(account)(driver, Method.WALLET)  # empty: only invoice will do
        await sync_to_async(token_of)(driver, "API-PAY-1")
        site = await sync_to_async(Site.objects.create)(name="API pay", city="Lund")
        await sync_to_async(ChargePoint.objects.filter(pk=connector.charge_point_id).update)(
            site=site
        )

        response = await sync_to_async(api_for(driver).post)(
            "/api/v1/me/sessions/start/",
            {"connector": connector.pk, "payment_method": "invoice"},
            format="json",
        )

        assert response.status_code == 202, response.content
        assert [action for action, _request in cp.received] == ["RemoteStartTransaction"]
        choice = await sync_to_async(PaymentChoice.objects.get)()
        assert (choice.user_id, choice.method) == (driver.pk, Method.INVOICE)
