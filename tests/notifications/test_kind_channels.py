"""Per kind and channel (notifications/preferences.py KINDS): `GET/PUT
/api/v1/me/notifications/` `channels`, the rule that a transactional kind keeps a channel,
push without a device, and delivery following the choice (outbox rows per channel)."""

import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from billing.wallet import credit_wallet_manually, debit_wallet
from notifications import preferences, unsubscribe
from notifications.models import Notification, OutboxMessage, Preferences
from tests.notifications.push_service import Browser, PushService
from tests.notifications.test_webpush import subscribe
from users.models import User

pytestmark = pytest.mark.django_db

URL = reverse("api:my-notifications")


def subscribe_device(user: User, service: PushService) -> Browser:
    """The driver's browser subscribes to push through the portal, as app.js does."""
    browser = Browser()
    client = Client()
    client.force_login(user)
    assert subscribe(client, service.endpoint(f"device-{user.pk}"), browser) == 201
    return browser


def test_get_lists_every_kind_of_the_registry_with_its_channels(api):
    answer = api.get(URL).json()

    drivers = {kind: rule for kind, rule in preferences.KINDS.items() if not rule.staff}
    assert [entry["kind"] for entry in answer["kinds"]] == [str(kind) for kind in drivers]
    assert answer["channels"] == {
        str(kind): [c for c in preferences.CHANNELS if c in rule.default | rule.always]
        for kind, rule in drivers.items()
    }
    assert "payer_blocked" not in answer["channels"]  # a staff alert
    receipts = next(entry for entry in answer["kinds"] if entry["kind"] == "receipts")
    assert receipts["transactional"] is True and receipts["always"] == []
    problems = next(entry for entry in answer["kinds"] if entry["kind"] == "payment_problems")
    assert problems["always"] == ["email"]
    assert all("webhook" not in channels for channels in answer["channels"].values())
    assert answer["push_devices"] == 0


def test_put_channels_changes_the_kinds_it_names_and_the_first_fields_follow(api, driver):
    response = api.put(
        URL,
        {"channels": {"receipts": ["portal"], "charging_finished": ["webpush", "email"]}},
        format="json",
    )

    assert response.status_code == 200
    answer = response.json()
    assert answer["channels"]["receipts"] == ["portal"]
    assert answer["channels"]["charging_finished"] == ["email", "webpush"]
    assert answer["channels"]["wallet_low"] == ["email", "portal"]  # not named: default
    assert answer["receipts_by_email"] is False
    assert answer["charging_finished_in_portal"] is False
    assert answer["charging_finished"] is True
    assert not preferences.wants(driver, preferences.RECEIPTS, "email")
    assert preferences.wants(driver, preferences.RECEIPTS, "portal")
    assert not preferences.wants(driver, preferences.CHARGING_FINISHED, "portal")


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        (
            {"receipts": []},
            "Receipts cannot be turned off entirely: keep at least one channel.",
        ),
        (
            {"session_ended": []},
            "Session ended, with its cost cannot be turned off entirely",
        ),
        ({"payment_problems": ["portal"]}, "Payment problems: Email cannot be turned off."),
        ({"newsletter": ["email"]}, "“newsletter” is not a kind of notification."),
        ({"payer_blocked": ["email"]}, "“payer_blocked” is not a kind of notification."),
        ({"bookings": ["webhook"]}, "Bookings: confirmed, ended unused: “webhook” is not a"),
        ({"bookings": "email"}, "Expected a list of items"),
    ],
)
def test_a_put_that_breaks_a_rule_is_a_400_and_nothing_stored_changes(
    api, driver, channels, message
):
    api.put(URL, {"channels": {"wallet_low": ["portal"]}}, format="json")
    before = Preferences.objects.get(user=driver).channels

    response = api.put(
        URL,
        # Valid changes beside the wrong one are not saved either.
        {"channels": {**channels, "wallet_low": ["email"]}, "receipts_by_email": False},
        format="json",
    )

    assert response.status_code == 400
    assert message in json.dumps(response.json(), ensure_ascii=False)
    assert "channels" in response.json()
    assert Preferences.objects.get(user=driver).channels == before


def test_receipts_by_email_off_through_the_first_field_keeps_them_in_the_portal(api, driver):
    response = api.put(URL, {"receipts_by_email": False}, format="json")

    assert response.status_code == 200
    assert response.json()["channels"]["receipts"] == ["portal"]
    assert preferences.channels_for(driver, preferences.RECEIPTS) == {"portal"}


def test_the_unsubscribe_link_of_a_transactional_kind_leaves_it_in_the_portal(driver, client):
    link = unsubscribe.url(driver, preferences.RECEIPTS)
    assert client.post(link.removeprefix("https://" + link.split("/")[2])).status_code == 200

    assert preferences.channels_for(driver, preferences.RECEIPTS) == {"portal"}


def test_push_without_a_device_is_allowed_and_noted(api, driver, push_service):
    response = api.put(URL, {"channels": {"bookings": ["webpush"]}}, format="json")

    assert response.status_code == 200
    assert response.json()["channels"]["bookings"] == ["webpush"]
    [note] = response.json()["notes"]
    assert "No device of yours takes push" in note and "Bookings" in note
    # Until a device takes push, what was chosen for push is listed in the portal.
    assert preferences.channels_for(driver, preferences.BOOKINGS) == {"portal"}

    subscribe_device(driver, push_service)

    answer = api.get(URL).json()
    assert answer["notes"] == [] and answer["push_devices"] == 1
    assert preferences.channels_for(driver, preferences.BOOKINGS) == {"webpush"}


@pytest.fixture
def wallet_driver(make_user, settings) -> User:
    settings.BILLING_WALLET_LOW_BALANCE = 50
    driver = make_user(language="en")
    credit_wallet_manually(driver, Decimal(100), staff=make_user(is_staff=True), reason="Cash")
    return driver


def choose(user: User, channels: dict[str, list[str]]) -> None:
    client = APIClient()
    client.force_authenticate(user)
    assert client.put(URL, {"channels": channels}, format="json").status_code == 200


def rows(user: User, kind: str) -> list[str]:
    messages = OutboxMessage.objects.filter(recipient=user, kind=kind).order_by("channel")
    return [message.channel for message in messages]


def test_a_low_wallet_reaches_the_driver_on_the_channels_they_chose(
    wallet_driver, make_user, push_service, mailoutbox, django_capture_on_commit_callbacks
):
    browser = subscribe_device(wallet_driver, push_service)
    choose(wallet_driver, {"wallet_low": ["webpush"]})

    with django_capture_on_commit_callbacks(execute=True):
        debit_wallet(wallet_driver, Decimal(60), "session:1")  # 40 left: below 50

    assert rows(wallet_driver, "wallet_low") == ["webpush"]
    assert mailoutbox == []
    assert not Notification.objects.filter(user=wallet_driver).exists()
    [pushed] = push_service.received
    assert browser.decrypt(pushed)["title"] == "Your wallet is running low"
    assert OutboxMessage.objects.get(kind="wallet_low").state == OutboxMessage.State.SENT

    # Email and the portal instead: the next crossing goes there, and not by push.
    choose(wallet_driver, {"wallet_low": ["email", "portal"]})
    with django_capture_on_commit_callbacks(execute=True):
        staff = make_user(is_staff=True)
        credit_wallet_manually(wallet_driver, Decimal(100), staff=staff, reason="Cash")
        debit_wallet(wallet_driver, Decimal(95), "session:2")  # 45 left: below again

    assert rows(wallet_driver, "wallet_low") == ["email", "portal", "webpush"]
    assert [mail.subject for mail in mailoutbox] == ["Your wallet is running low"]
    assert len(push_service.received) == 1


def test_push_chosen_without_a_device_is_listed_in_the_portal(
    wallet_driver, mailoutbox, django_capture_on_commit_callbacks
):
    choose(wallet_driver, {"wallet_low": ["webpush"]})

    with django_capture_on_commit_callbacks(execute=True):
        debit_wallet(wallet_driver, Decimal(60), "session:1")

    assert rows(wallet_driver, "wallet_low") == ["portal"]
    assert mailoutbox == []
    [listed] = Notification.objects.filter(user=wallet_driver)
    assert listed.title == "Your wallet is running low"
