"""Signed webhooks (notifications/webhooks.py): made through the API, delivered to a
local HTTP receiver that checks signatures with the README's own snippet, retried,
disabled after failures in a row, and never posted into a private network."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from notifications import outbox, webhooks
from notifications.models import OutboxMessage, WebhookEndpoint
from stations.models import Connector
from stations.signals import connector_status_changed
from tests.notifications.webhook_receiver import readme_verify
from tests.portal.places import first_connector, place
from tests.stations.handling import handle

LIST = reverse("api:webhook-list")


@pytest.fixture
def staff_api(admin_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def status_change(connector: Connector, status: str, capture) -> None:
    previous = connector.status
    Connector.objects.filter(pk=connector.pk).update(status=status)
    connector.status = status
    with capture(execute=True):
        connector_status_changed.send(
            sender=Connector, connector=connector, previous_status=previous
        )


def test_an_endpoint_made_by_the_api_gets_signed_events_the_readme_check_accepts(
    receiver, staff_api, django_capture_on_commit_callbacks
):
    made = staff_api.post(
        LIST, {"url": receiver.url, "events": ["connector.status_changed"]}, format="json"
    )
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert secret.startswith("whsec_")
    listed = staff_api.get(LIST).json()
    assert "secret" not in json.dumps(listed)  # shown once
    connector = first_connector(place("Hooks", charge_point_id="CP-HOOK-1"))

    status_change(connector, "Charging", django_capture_on_commit_callbacks)

    [(headers, body)] = receiver.requests
    verify = readme_verify()
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body.replace(b"Charging", b"Faulted"))
    assert not verify("whsec_other", headers, body)
    event = json.loads(body)
    assert event["event"] == headers["X-ChargeHub-Event"] == "connector.status_changed"
    assert event["data"] == {
        "charge_point": "CP-HOOK-1",
        "connector": connector.connector_id,
        "status": "Charging",
        "previous_status": "Available",
    }


def test_an_endpoint_made_while_a_charger_talks_hears_its_very_next_status_change(
    receiver, staff_api, django_capture_on_commit_callbacks
):
    """Which events an endpoint wants is remembered per process (webhooks.any_listening,
    asked at every status change): one made meanwhile is heard at once, not after
    WEBHOOKS_LISTENING_TTL."""

    def status(value: str) -> None:
        payload = {"connectorId": 1, "status": value, "errorCode": "NoError"}
        with django_capture_on_commit_callbacks(execute=True):
            handle("CP-HOOK-LATER", "StatusNotification", payload)

    webhooks.forget_listening()  # as in a fresh process, whatever earlier tests left
    status("Available")  # nobody listens: remembered
    made = staff_api.post(
        LIST, {"url": receiver.url, "events": ["connector.status_changed"]}, format="json"
    )
    assert made.status_code == 201

    status("Preparing")

    [(_headers, body)] = receiver.requests
    assert json.loads(body)["data"] == {
        "charge_point": "CP-HOOK-LATER",
        "connector": 1,
        "status": "Preparing",
        "previous_status": "Available",
    }


def test_an_endpoint_gets_only_its_events_and_the_test_event(
    receiver, staff_api, admin_user, django_capture_on_commit_callbacks
):
    endpoint = webhooks.create_endpoint(admin_user, receiver.url, ["ticket.opened"])
    connector = first_connector(place("Quiet"))
    status_change(connector, "Charging", django_capture_on_commit_callbacks)
    assert receiver.requests == []

    with django_capture_on_commit_callbacks(execute=True):
        tested = staff_api.post(reverse("api:webhook-send-test", args=[endpoint.pk]))
    assert tested.status_code == 202
    [(headers, _body)] = receiver.requests
    assert headers["X-ChargeHub-Event"] == "test"


def test_a_failing_receiver_is_retried_then_disabled_and_its_owner_told_once(
    receiver, admin_user, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    receiver.status = 500
    endpoint = webhooks.create_endpoint(admin_user, receiver.url)
    connector = first_connector(place("Flaky"))

    status_change(connector, "Charging", django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.consecutive_failures) == (True, 1)
    message = OutboxMessage.objects.get(channel="webhook")
    assert message.state == OutboxMessage.State.PENDING and message.last_error == "HTTP 500"

    # Due again after its backoff: fails again, the second in a row: disabled.
    outbox.deliver_pending(message.next_attempt_at)
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.consecutive_failures) == (False, 2)
    assert len(receiver.requests) == 2
    assert [m.to for m in mailoutbox] == [[admin_user.email]]
    assert endpoint.url in mailoutbox[0].subject

    # Disabled: nothing more is posted, not the retry, not a new event.
    status_change(connector, "Available", django_capture_on_commit_callbacks)
    outbox.deliver_pending(message.next_attempt_at.replace(year=2100))
    assert len(receiver.requests) == 2 and len(mailoutbox) == 1


def test_a_success_clears_the_failures_in_a_row(receiver, admin_user, settings):
    endpoint = webhooks.create_endpoint(admin_user, receiver.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=3)
    webhooks.send_test(endpoint)
    outbox.deliver_pending()
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "ftp://example.com/hooks",
        "javascript:alert(1)",
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(url, staff_api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    response = staff_api.post(LIST, {"url": url}, format="json")
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_that_later_points_inside_is_not_posted_to(receiver, admin_user, settings):
    endpoint = webhooks.create_endpoint(admin_user, receiver.url)
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    webhooks.send_test(endpoint)
    outbox.deliver_pending()
    assert receiver.requests == []
    assert "private" in OutboxMessage.objects.get(channel="webhook").last_error


def test_unknown_events_are_a_400_and_drivers_cannot_see_webhooks(staff_api, driver, receiver):
    assert (
        staff_api.post(LIST, {"url": receiver.url, "events": ["nope"]}, format="json").status_code
        == 400
    )
    made = staff_api.post(LIST, {"url": receiver.url}, format="json").json()
    as_driver = APIClient()
    as_driver.force_authenticate(driver)
    assert as_driver.get(LIST).status_code == 403
    detail = reverse("api:webhook-detail", args=[made["id"]])
    assert as_driver.delete(detail).status_code == 403
    assert staff_api.get(detail).json()["events"] == []
    assert staff_api.delete(detail).status_code == 204
    assert not WebhookEndpoint.objects.exists()
