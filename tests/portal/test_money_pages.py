"""The driver's money pages (portal/money.py): card, wallet, API token, subscription,
statistics. Card payments run against localstripe (tests/billing/conftest.py); the
browser's part (Stripe.js confirming) is done as Stripe's own tests do it."""

# The localstripe fixtures are imported from tests/billing/conftest.py; pytest finds
# them by the argument names, which ruff reads as redefinitions.
# ruff: noqa: F811

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import stripe
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from djstripe.models import Customer

from billing import payment_choice, payments
from billing.models import (
    BillingAccount,
    CardPayment,
    CustomerGroup,
    PlanSubscription,
    SessionCharge,
    SubscriptionPlan,
)
from billing.subscriptions import publish_plan
from billing.wallet import credit_wallet_manually
from portal import statistics
from tests.billing.conftest import (  # noqa: F401 (fixtures)
    SECRET_KEY,
    localstripe_url,
    saved_card,
    stripe_configured,
    stripe_not_configured,
)
from tests.portal.places import first_connector, place, session_of, token_of
from users import api_tokens
from users.models import ApiToken

pytestmark = pytest.mark.django_db
D = Decimal
STOCKHOLM = ZoneInfo("Europe/Stockholm")

CARD = reverse("portal:money-card")
CARD_ADD = reverse("portal:money-card-add")
CARD_DONE = reverse("portal:money-card-done")
WALLET = reverse("portal:money-wallet")
SUBSCRIPTION = reverse("portal:money-subscription")
TOKEN = reverse("portal:money-api-token")
STATISTICS = reverse("portal:money-statistics")


def action(name: str) -> str:
    return reverse("portal:money-subscription-action", args=[name])


def page(response) -> str:
    return response.content.decode()


# --- Every page: logged in only ---


@pytest.mark.parametrize(
    "url",
    [CARD, CARD_DONE, WALLET, SUBSCRIPTION, TOKEN, STATISTICS],
)
def test_anonymous_visitor_is_sent_to_log_in(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


@pytest.mark.parametrize("url", [CARD, CARD_ADD, WALLET, action("cancel"), TOKEN])
def test_anonymous_post_is_sent_to_log_in_and_changes_nothing(client: Client, url: str) -> None:
    response = client.post(url, {"action": "create"})
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
    assert not ApiToken.objects.exists()


def test_account_page_links_to_the_money_pages(driver_client: Client) -> None:
    text = page(driver_client.get(reverse("portal:account")))
    for url in (CARD, WALLET, SUBSCRIPTION, TOKEN, STATISTICS):
        assert f'href="{url}"' in text


# --- Card payments not configured ---


@pytest.mark.parametrize("url", [CARD, WALLET, SUBSCRIPTION])
def test_card_pages_say_card_payments_are_not_configured(
    stripe_not_configured, driver_client: Client, url: str
) -> None:
    make_plan("Plus", stripe_price_id="price_published_before")  # a button to disable
    response = driver_client.get(url)
    assert response.status_code == 200
    assert "Card payments are not configured on this site." in page(response)
    if url == SUBSCRIPTION:
        assert "disabled" in page(response)


def test_without_stripe_no_card_is_offered_and_the_wallet_page_says_how_else_to_top_up(
    stripe_not_configured, driver_client: Client, settings
) -> None:
    settings.BILLING_DRIVER_PAYMENT_METHODS = ["wallet", "card", "invoice"]
    card_page = page(driver_client.get(CARD))
    assert 'value="card"' not in card_page and 'value="wallet"' in card_page
    assert "Add a card" not in card_page
    wallet_page = page(driver_client.get(WALLET))
    assert "Top up by card" not in wallet_page and 'name="amount"' not in wallet_page
    assert "by bank transfer" in wallet_page  # the general sentence

    settings.PORTAL_TOPUP_HELP = "Pay at the desk in Lindholmen, or to bankgiro 123-4567."
    assert settings.PORTAL_TOPUP_HELP in page(driver_client.get(WALLET))


def test_with_stripe_the_top_up_help_is_shown_below_the_card_form(
    stripe_configured, driver_client: Client, settings
) -> None:
    wallet_page = page(driver_client.get(WALLET))
    assert "Top up by card" in wallet_page and 'id="topup-help"' not in wallet_page
    settings.PORTAL_TOPUP_HELP = "Or pay at the desk."
    wallet_page = page(driver_client.get(WALLET))
    assert "Top up by card" in wallet_page and "Or pay at the desk." in wallet_page


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (CARD_ADD, {}),
        (WALLET, {"amount": "100", "idempotency_key": "6f1c7a2e-8a57-4d7e-9f5e-4a3f7ad1e001"}),
        (action("subscribe"), {"plan": "1"}),
        (action("cancel"), {}),
    ],
)
def test_card_posts_answer_503_when_not_configured(
    stripe_not_configured, driver_client: Client, url: str, data: dict
) -> None:
    response = driver_client.post(url, data)
    assert response.status_code == 503
    assert "Card payments are not configured on this site." in page(response)
    assert not CardPayment.objects.exists()


def test_card_done_answers_503_when_not_configured(
    stripe_not_configured, driver_client: Client
) -> None:
    response = driver_client.get(CARD_DONE + "?setup_intent=seti_123")
    assert response.status_code == 503


def test_wallet_or_invoice_can_be_chosen_without_stripe(
    stripe_not_configured, driver, driver_client: Client
) -> None:
    response = driver_client.post(CARD, {"payment_method": "invoice"})
    assert response.status_code == 302
    assert BillingAccount.objects.get(user=driver).payment_method == "invoice"


def test_drivers_choose_only_the_methods_the_operator_offers(
    stripe_not_configured, driver, driver_client: Client, settings
) -> None:
    settings.BILLING_DRIVER_PAYMENT_METHODS = ["wallet", "card"]
    settings.BILLING_DEFAULT_PAYMENT_METHOD = "wallet"

    response = driver_client.post(CARD, {"payment_method": "invoice"})

    assert response.status_code == 400
    assert BillingAccount.objects.get(user=driver).payment_method == "wallet"
    assert 'value="invoice"' not in page(driver_client.get(CARD))


# --- 1. Payment methods ---


def test_card_page_without_a_card_offers_to_add_one(
    stripe_configured, driver, driver_client
) -> None:
    response = driver_client.get(CARD)
    assert response.status_code == 200
    assert "No card saved yet." in page(response)
    assert "Add a card" in page(response)
    assert response["Cache-Control"].count("no-store") == 1
    # Looking is not enough to become a customer at Stripe.
    assert not Customer.objects.filter(subscriber=driver).exists()


def test_adding_a_card_confirmed_by_the_browser_saves_it(
    stripe_configured, driver, driver_client
) -> None:
    response = driver_client.post(CARD_ADD)
    assert response.status_code == 200
    text = page(response)
    assert "https://js.stripe.com/v3/" in text
    assert "pk_test_chargehublocalstripe0000000001" in text
    config = response.context["stripe_config"]
    setup_intent_id = config["clientSecret"].split("_secret_")[0]
    assert config["returnUrl"].endswith(f"{CARD_DONE}?setup_intent={setup_intent_id}")
    # What Stripe.js's confirmCardSetup does in the browser:
    stripe.SetupIntent.confirm(setup_intent_id, payment_method="pm_card_visa", api_key=SECRET_KEY)

    done = driver_client.get(f"{CARD_DONE}?setup_intent={setup_intent_id}")

    assert done.status_code == 302
    assert done["Location"] == CARD
    card_id = payments.default_card(driver)
    assert card_id
    shown = driver_client.get(CARD)
    assert "Your card is saved" in page(shown)
    assert "ending in 4242" in page(shown)
    assert "Replace card" in page(shown)


def test_another_drivers_setup_intent_in_the_done_address_is_refused(
    stripe_configured, driver, driver_client, make_user
) -> None:
    other = make_user()
    theirs = payments.save_card(other)
    stripe.SetupIntent.confirm(theirs.id, payment_method="pm_card_visa", api_key=SECRET_KEY)

    response = driver_client.get(f"{CARD_DONE}?setup_intent={theirs.id}")

    assert response.status_code == 404
    assert "not yours" in page(response)
    assert payments.default_card(other) is None  # card_saved was never called
    assert payments.default_card(driver) is None


def test_the_card_page_shows_the_card_the_start_form_offers_without_asking_stripe(
    stripe_configured, driver, driver_client, settings
) -> None:
    saved_card(driver)
    # Both read the one source (billing.payments.saved_card, dj-stripe's copy).
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"

    shown = driver_client.get(CARD)

    assert shown.status_code == 200
    assert "Visa ending in 4242" in page(shown)
    assert "cannot be reached" not in page(shown)
    offered = payment_choice.options_for(driver)
    assert "Card •••• 4242" in [option.label for option in offered.options]


@pytest.mark.parametrize("value", ["", "seti_doesnotexist", "pi_123"])
def test_unknown_setup_intent_in_the_done_address_is_refused(
    stripe_configured, driver_client, value: str
) -> None:
    response = driver_client.get(f"{CARD_DONE}?setup_intent={value}")
    assert response.status_code == 404


def test_choosing_card_without_a_saved_card_is_a_form_error(
    stripe_configured, driver, driver_client
) -> None:
    response = driver_client.post(CARD, {"payment_method": "card"})
    assert response.status_code == 400
    assert "Save a card first" in page(response)
    assert 'aria-describedby="id_payment_method_errors"' in page(response)
    assert BillingAccount.objects.get(user=driver).payment_method != "card"


def test_choosing_card_with_a_saved_card(stripe_configured, driver, driver_client) -> None:
    saved_card(driver)
    response = driver_client.post(CARD, {"payment_method": "card"})
    assert response.status_code == 302
    assert BillingAccount.objects.get(user=driver).payment_method == "card"


def test_fleet_member_sees_the_fleet_pays_and_cannot_change_it(
    stripe_not_configured, driver, driver_client
) -> None:
    fleet = CustomerGroup.objects.create(name="Acme AB", kind=CustomerGroup.Kind.FLEET)
    fleet.members.add(driver)
    BillingAccount.objects.create(fleet=fleet, payment_method="invoice")

    shown = driver_client.get(CARD)
    assert "paid by Acme AB" in page(shown)
    assert 'name="payment_method"' not in page(shown)
    before = BillingAccount.objects.get(user=driver).payment_method
    other = "wallet" if before != "wallet" else "invoice"
    response = driver_client.post(CARD, {"payment_method": other})

    assert response.status_code == 403
    assert BillingAccount.objects.get(user=driver).payment_method == before
    assert BillingAccount.objects.get(fleet=fleet).payment_method == "invoice"


# --- 2. Wallet ---


def test_wallet_shows_balance_entries_and_a_top_up_form(
    stripe_configured, driver, driver_client, make_user
) -> None:
    staff = make_user(is_staff=True)
    credit_wallet_manually(driver, D("120.50"), staff=staff, reason="cash")
    credit_wallet_manually(make_user(), D("999.00"), staff=staff, reason="someone else")

    response = driver_client.get(WALLET)

    assert response.status_code == 200
    text = page(response)
    assert "120,50" in text or "120.50" in text
    assert "999" not in text
    assert 'name="idempotency_key"' in text
    for preset in ("100", "200", "500"):
        assert f'value="{preset}"' in text
    assert '<label for="id_other_amount">' in text


def test_top_up_with_a_saved_card_is_charged_at_once_and_a_double_submit_is_one_payment(
    stripe_configured, driver, driver_client
) -> None:
    saved_card(driver)
    form = {"amount": "200", "idempotency_key": "0d9b6c1e-41a4-4a47-9d1b-2f1d6d7a0c11"}

    first = driver_client.post(WALLET, form)
    second = driver_client.post(WALLET, form)

    assert first.status_code == second.status_code == 302
    payment = CardPayment.objects.get()
    assert (payment.user, payment.amount, payment.status) == (driver, D("200.00"), "succeeded")
    followed = driver_client.get(WALLET)
    assert "as soon as Stripe confirms" in page(followed)


def test_top_up_without_a_saved_card_is_confirmed_in_the_browser(
    stripe_configured, driver, driver_client
) -> None:
    form = {
        "amount": "other",
        "other_amount": "75.50",
        "idempotency_key": "8f0d3c55-2b53-4d0a-8d3b-6c1ce1b0a1a2",
    }
    response = driver_client.post(WALLET, form)

    assert response.status_code == 200
    text = page(response)
    assert "https://js.stripe.com/v3/" in text
    config = response.context["stripe_config"]
    assert config["needsCard"] is True
    intent_id = config["clientSecret"].split("_secret_")[0]
    # What Stripe.js's confirmCardPayment does in the browser (localstripe takes the card
    # on the PaymentIntent, not with /confirm: tests/billing/guest_charging.py):
    stripe.PaymentIntent.modify(intent_id, payment_method="pm_card_visa", api_key=SECRET_KEY)
    confirmed = stripe.PaymentIntent.confirm(intent_id, api_key=SECRET_KEY)
    assert (confirmed.status, confirmed.amount) == ("succeeded", 7550)
    assert CardPayment.objects.get().amount == D("75.50")
    assert "Thank you" in page(driver_client.get(config["returnUrl"].split("testserver")[1]))


def test_declined_top_up_is_shown_on_the_form(stripe_configured, driver, driver_client) -> None:
    saved_card(driver, "pm_card_chargeCustomerFail")
    form = {"amount": "100", "idempotency_key": "5a1f1c9e-8d6b-4c1e-b0f4-5f0c1d2e3a44"}

    response = driver_client.post(WALLET, form)

    assert response.status_code == 400
    assert 'role="alert"' in page(response)
    assert CardPayment.objects.get().status == "declined"
    # The page comes back with a new key: trying again is a new attempt, not the old
    # decline repeated.
    retry_key = str(response.context["form"]["idempotency_key"].value())
    assert retry_key != form["idempotency_key"]
    driver_client.post(WALLET, {**form, "idempotency_key": retry_key})
    assert CardPayment.objects.count() == 2


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"amount": "other", "other_amount": "2.99"}, "greater than or equal to 3"),
        ({"amount": "other", "other_amount": ""}, "Enter the amount."),
        ({"amount": "other", "other_amount": "10000.01"}, "less than or equal to 10000"),
        ({"amount": "50"}, "Select a valid choice"),
    ],
)
def test_top_up_amounts_outside_the_limits_are_form_errors(
    stripe_configured, driver_client, form: dict, error: str
) -> None:
    form["idempotency_key"] = "3c7e2d2b-6e7e-4d59-9b53-0e3f9e2a8f44"
    response = driver_client.post(WALLET, form)
    assert response.status_code == 400
    assert error in page(response)
    assert not CardPayment.objects.exists()


def test_top_up_without_an_idempotency_key_is_refused(stripe_configured, driver_client) -> None:
    response = driver_client.post(WALLET, {"amount": "100"})
    assert response.status_code == 400
    assert not CardPayment.objects.exists()


# --- 3. API token ---


def shown_key(response) -> str:
    """The key a page shows once, after making a token."""
    match = re.search(r'id="api-token" value="([0-9a-f]{40})"', page(response))
    assert match, page(response)
    return match.group(1)


def test_api_token_create_rotate_delete(driver, driver_client, settings) -> None:
    assert "You have no API token." in page(driver_client.get(TOKEN))

    first = shown_key(driver_client.post(TOKEN, {"action": "create"}))
    token = ApiToken.objects.get(user=driver)
    assert token.digest == api_tokens.digest(first)
    # No lifetime chosen: the default one (users/api_tokens.py).
    assert token.expires_at == token.created_at + timedelta(days=settings.API_TOKEN_DAYS)
    shown = page(driver_client.get(TOKEN))
    assert first not in shown
    assert token.prefix in shown

    # Creating again keeps the token (a double click is not a rotation).
    assert driver_client.post(TOKEN, {"action": "create"}).status_code == 302
    assert ApiToken.objects.get(user=driver).pk == token.pk

    second = shown_key(driver_client.post(TOKEN, {"action": "rotate"}))
    assert second != first
    assert ApiToken.objects.get(user=driver).digest == api_tokens.digest(second)

    driver_client.post(TOKEN, {"action": "delete"})
    assert not ApiToken.objects.filter(user=driver).exists()


def test_api_token_page_shows_only_the_drivers_own_token(driver, driver_client, make_user) -> None:
    theirs, _key = api_tokens.issue(make_user())
    assert theirs.prefix not in page(driver_client.get(TOKEN))
    driver_client.post(TOKEN, {"action": "delete"})
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


def test_api_token_unknown_action_is_refused(driver_client) -> None:
    response = driver_client.post(TOKEN, {"action": "steal"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_api_token_lifetime_not_offered_is_refused(driver_client) -> None:
    response = driver_client.post(TOKEN, {"action": "create", "days": "100000"})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_api_token_works_for_the_api(driver, driver_client) -> None:
    key = shown_key(driver_client.post(TOKEN, {"action": "create"}))
    url = reverse("api:my-wallet")
    assert Client().get(url).status_code in (401, 403)
    response = Client().get(url, headers={"Authorization": f"Token {key}"})
    assert response.status_code == 200


# --- 4. Subscription ---


def make_plan(name: str, fee: str = "99.00", **fields) -> SubscriptionPlan:
    group = CustomerGroup.objects.create(name=f"{name} members", kind=CustomerGroup.Kind.PLAN)
    return SubscriptionPlan.objects.create(
        name=name, customer_group=group, monthly_fee=D(fee), **fields
    )


@pytest.fixture
def plus(stripe_configured) -> SubscriptionPlan:
    plan = make_plan("Plus", included_kwh=D("50"))
    publish_plan(plan)
    return plan


@pytest.fixture
def flat(stripe_configured) -> SubscriptionPlan:
    plan = make_plan("Flat", fee="499.00")
    publish_plan(plan)
    return plan


def test_subscription_page_lists_plans_on_sale_only(plus, driver_client) -> None:
    make_plan("Unpublished")
    make_plan("Withdrawn", is_active=False, stripe_price_id="price_old")

    text = page(driver_client.get(SUBSCRIPTION))

    assert "Plus" in text
    assert "123,75" in text or "123.75" in text  # 99.00 + 25 % VAT
    assert "Unpublished" not in text
    assert "Withdrawn" not in text
    assert "You have no subscription." in text


def test_subscribe_without_a_card_links_to_the_card_page(plus, driver, driver_client) -> None:
    response = driver_client.post(action("subscribe"), {"plan": plus.pk})

    assert response.status_code == 400
    assert "save a card before subscribing" in page(response)
    assert f'href="{CARD}"' in page(response)
    assert not PlanSubscription.objects.exists()


def test_subscribe_change_and_cancel_at_period_end(plus, flat, driver, driver_client) -> None:
    saved_card(driver)

    subscribed = driver_client.post(action("subscribe"), {"plan": plus.pk})
    assert subscribed.status_code == 302
    record = PlanSubscription.objects.get(user=driver)
    assert (record.plan, record.status) == (plus, "active")
    text = page(driver_client.get(SUBSCRIPTION))
    assert "You now subscribe to Plus." in text
    assert "Change to Flat" in text

    again = driver_client.post(action("subscribe"), {"plan": flat.pk})
    assert again.status_code == 400
    assert "change your plan instead" in page(again)

    changed = driver_client.post(action("change"), {"plan": flat.pk})
    assert changed.status_code == 302
    record.refresh_from_db()
    assert record.plan == flat

    cancelled = driver_client.post(action("cancel"))
    assert cancelled.status_code == 302
    record.refresh_from_db()
    assert record.cancel_at_period_end is True
    assert record.status == "active"  # the plan applies until the period ends
    assert "Cancel at the end of the period" not in page(driver_client.get(SUBSCRIPTION))


def test_subscribe_with_a_declined_card_says_so(plus, driver, driver_client) -> None:
    saved_card(driver, "pm_card_chargeCustomerFail")
    response = driver_client.post(action("subscribe"), {"plan": plus.pk})
    assert response.status_code == 400
    assert 'class="notice bad" role="alert"' in page(response)
    assert not PlanSubscription.objects.filter(status__in=PlanSubscription.ACTIVE_STATUSES)


def test_subscribing_to_a_plan_not_on_sale_is_refused(plus, driver, driver_client) -> None:
    saved_card(driver)
    hidden = make_plan("Hidden")
    response = driver_client.post(action("subscribe"), {"plan": hidden.pk})
    assert response.status_code == 400
    assert not PlanSubscription.objects.exists()


def test_cancel_without_a_subscription_is_an_error(stripe_configured, driver_client) -> None:
    response = driver_client.post(action("cancel"))
    assert response.status_code == 400
    assert "no subscription to cancel" in page(response)


def test_unknown_subscription_action_is_404(stripe_configured, driver_client) -> None:
    assert driver_client.post(action("steal")).status_code == 404


# --- 5. Statistics ---


def _session(token, connector, started: datetime, wh: int, gross: str | None):
    session = session_of(token, connector, wh=wh)
    session.started_at = started
    session.stopped_at = started + (session.stopped_at - session.started_at)
    session.save(update_fields=["started_at", "stopped_at"])
    if gross is not None:
        SessionCharge.objects.create(
            session=session,
            method=SessionCharge.Method.WALLET,
            status=SessionCharge.Status.PAID,
            gross=D(gross),
            priced_at=timezone.now(),
        )
    return session


def test_statistics_per_month_hand_computed(driver, driver_client, make_user) -> None:
    token = token_of(driver)
    connector = first_connector(place("Stats"))
    # 31 January 23:30 in Stockholm is still January, though 22:30 UTC.
    _session(token, connector, datetime(2026, 1, 31, 23, 30, tzinfo=STOCKHOLM), 10_000, "35.00")
    _session(token, connector, datetime(2026, 1, 5, 8, 0, tzinfo=STOCKHOLM), 2_500, "8.75")
    _session(token, connector, datetime(2026, 2, 1, 0, 30, tzinfo=STOCKHOLM), 20_000, None)
    _session(token_of(make_user()), connector, datetime(2026, 1, 9, tzinfo=STOCKHOLM), 99_000, "1")

    months = statistics.monthly(driver)

    assert [m.month.isoformat() for m in months] == ["2026-02-01", "2026-01-01"]
    february, january = months
    assert (january.sessions, january.energy_kwh, january.cost) == (2, D("12.5"), D("43.75"))
    assert (february.sessions, february.energy_kwh, february.cost) == (1, D("20"), D("0.00"))
    # Per kWh: 6.5 l/100 km * 2.3 kg/l / 18 kWh/100 km - 0.040 kg = 0.790555... kg
    assert january.co2_saved_kg == D("9.9")  # 12.5 * 0.7905... = 9.88
    assert february.co2_saved_kg == D("15.8")  # 20 * 0.7905... = 15.81
    totals = statistics.total(months)
    assert (totals.sessions, totals.energy_kwh, totals.cost) == (3, D("32.5"), D("43.75"))
    assert totals.co2_saved_kg == D("25.7")  # 32.5 * 0.7905... = 25.69

    response = driver_client.get(STATISTICS)
    assert response.status_code == 200
    text = page(response)
    assert "12.50" in text or "12,50" in text
    assert "99" not in text.split("<tbody>")[1].split("</tfoot>")[0]


def test_statistics_without_sessions(driver_client) -> None:
    response = driver_client.get(STATISTICS)
    assert response.status_code == 200
    assert "No charging yet" in page(response)
