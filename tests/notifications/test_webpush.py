"""Web Push against a local push service: the VAPID JWT verifies with the server's public
key, the body decrypts with the subscription's keys, 410 Gone removes the subscription;
the portal's subscribe and unsubscribe endpoints; the manifest and the service worker."""

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from notifications import outbox, webpush
from notifications.models import OutboxMessage, PushSubscription
from tests.notifications.push_service import PUBLIC_KEY, Browser, vapid_claims

pytestmark = pytest.mark.django_db


def subscribe(client: Client, endpoint: str, browser: Browser) -> int:
    response = client.post(
        reverse("portal:push-subscribe"),
        json.dumps({"endpoint": endpoint, "expirationTime": None, "keys": browser.keys()}),
        content_type="application/json",
    )
    return response.status_code


def test_a_push_is_signed_with_the_vapid_key_and_decrypts_with_the_subscription_keys(
    driver, driver_client, push_service
):
    browser = Browser()
    assert subscribe(driver_client, push_service.endpoint("phone"), browser) == 201
    subscription = PushSubscription.objects.get(user=driver)

    error = webpush.send(subscription, {"title": "Free", "body": "Lindholmen", "url": "/x/"})

    assert error is None
    [message] = push_service.received
    assert message.path == "/push/phone"
    claims = vapid_claims(message, PUBLIC_KEY)
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == "mailto:ops@example.com"
    assert int(message.headers["ttl"]) > 0
    assert browser.decrypt(message) == {"title": "Free", "body": "Lindholmen", "url": "/x/"}


def test_a_push_for_another_browser_does_not_decrypt_with_these_keys(driver, push_service):
    subscription = PushSubscription.objects.create(
        user=driver, endpoint=push_service.endpoint("a"), **Browser().keys()
    )
    webpush.send(subscription, {"title": "Secret"})
    with pytest.raises(Exception):  # noqa: B017 - http_ece raises its own or AEAD errors
        Browser().decrypt(push_service.received[0])


def test_410_gone_removes_the_subscription(driver, push_service):
    browser = Browser()
    subscription = PushSubscription.objects.create(
        user=driver, endpoint=push_service.endpoint("gone"), **browser.keys()
    )
    push_service.status = 410

    error = webpush.send(subscription, {"title": "Free"})

    assert error is not None and "410" in error
    assert not PushSubscription.objects.exists()


def test_a_push_service_error_keeps_the_subscription_and_says_what_went_wrong(driver, push_service):
    subscription = PushSubscription.objects.create(
        user=driver, endpoint=push_service.endpoint("busy"), **Browser().keys()
    )
    push_service.status = 503
    assert "503" in (webpush.send(subscription, {"title": "Free"}) or "")
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()


def test_without_vapid_keys_nothing_is_sent(driver):
    subscription = PushSubscription.objects.create(
        user=driver, endpoint="https://push.example.com/x", **Browser().keys()
    )
    with override_settings(WEBPUSH_VAPID_PUBLIC_KEY="", WEBPUSH_VAPID_PRIVATE_KEY=""):
        assert "not configured" in (webpush.send(subscription, {"title": "Free"}) or "")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"endpoint": "https://push.example.com/a"}),
        json.dumps(
            {"endpoint": "https://push.example.com/a", "keys": {"p256dh": "x", "auth": "y"}}
        ),
        json.dumps({"endpoint": "ftp://push.example.com/a", "keys": Browser().keys()}),
        json.dumps({"endpoint": "http://10.0.0.1/a", "keys": Browser().keys()}),
        json.dumps({"endpoint": 5, "keys": Browser().keys()}),
        json.dumps(
            {"endpoint": "https://push.example.com/a", "keys": {**Browser().keys(), "auth": "AAAA"}}
        ),
    ],
)
def test_a_malformed_subscription_is_a_400(driver_client, body):
    response = driver_client.post(
        reverse("portal:push-subscribe"), body, content_type="application/json"
    )
    assert response.status_code == 400
    assert not PushSubscription.objects.exists()


def test_subscribing_needs_a_login_and_the_csrf_token(driver):
    body = json.dumps({"endpoint": "https://push.example.com/a", "keys": Browser().keys()})
    url = reverse("portal:push-subscribe")
    assert Client().post(url, body, content_type="application/json").status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(driver)
    assert strict.post(url, body, content_type="application/json").status_code == 403
    assert not PushSubscription.objects.exists()


def test_unsubscribing_forgets_only_the_drivers_own_subscription(driver, driver_client, make_user):
    other = PushSubscription.objects.create(
        user=make_user(), endpoint="https://push.example.com/other", **Browser().keys()
    )
    assert subscribe(driver_client, "https://push.example.com/mine", Browser()) == 201
    url = reverse("portal:push-unsubscribe")
    for endpoint in ("https://push.example.com/mine", other.endpoint):
        response = driver_client.post(
            url, json.dumps({"endpoint": endpoint}), content_type="application/json"
        )
        assert response.status_code == 204
    assert list(PushSubscription.objects.all()) == [other]
    assert driver_client.post(url, "{}", content_type="application/json").status_code == 400


def test_the_manifest_and_the_service_worker_are_served_from_the_root(client):
    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    data = manifest.json()
    assert data["display"] == "standalone" and data["start_url"] == "/"
    assert {icon["sizes"] for icon in data["icons"]} == {"192x192", "512x512"}
    worker = client.get("/sw.js")
    assert worker.status_code == 200
    assert worker["Content-Type"].startswith("text/javascript")
    assert b"showNotification" in worker.content and b"notificationclick" in worker.content
    page = client.get(reverse("portal:stations")).content.decode()
    assert 'rel="manifest" href="/manifest.webmanifest"' in page


def test_vapid_keys_prints_a_pair_that_signs_a_push(driver, push_service):
    out = io.StringIO()
    call_command("vapid_keys", stdout=out)
    settings = dict(line.split("=", 1) for line in out.getvalue().split())
    browser = Browser()
    subscription = PushSubscription.objects.create(
        user=driver, endpoint=push_service.endpoint("new"), **browser.keys()
    )
    with override_settings(**settings):
        assert webpush.send(subscription, {"title": "Hello"}) is None
    vapid_claims(push_service.received[0], settings["WEBPUSH_VAPID_PUBLIC_KEY"])


def test_the_outbox_delivers_a_push_through_the_webpush_transport(driver, push_service):
    browser = Browser()
    subscription = PushSubscription.objects.create(
        user=driver, endpoint=push_service.endpoint("outbox"), **browser.keys()
    )
    payload = {"subscription": subscription.pk, "title": "Free", "body": "Here", "url": "/s/1/"}
    message = outbox.enqueue(
        "nearby_free", driver, "webpush", payload, "push-test", deliver_after_commit=False
    )

    assert outbox.deliver(message.pk) is None

    message.refresh_from_db()
    assert message.state == OutboxMessage.State.SENT
    assert browser.decrypt(push_service.received[0]) == {
        "title": "Free",
        "body": "Here",
        "url": "/s/1/",
    }


def test_410_through_the_outbox_removes_the_subscription_and_the_message_is_not_sent(
    driver, push_service
):
    subscription = PushSubscription.objects.create(
        user=driver, endpoint=push_service.endpoint("gone"), **Browser().keys()
    )
    push_service.status = 410
    message = outbox.enqueue(
        "nearby_free",
        driver,
        "webpush",
        {"subscription": subscription.pk},
        "push-gone",
        deliver_after_commit=False,
    )

    assert "410" in (outbox.deliver(message.pk) or "")

    assert not PushSubscription.objects.exists()
    message.refresh_from_db()
    assert message.state != OutboxMessage.State.SENT
    assert "410" in message.last_error
