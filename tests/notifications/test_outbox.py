"""The outbox (notifications/outbox.py): one message per key, one delivery per message,
retries with backoff, failures for staff, and what a dead worker left is sent once."""

import socket
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications import outbox, preferences, unsubscribe
from notifications.models import OutboxMessage, Preferences
from notifications.tasks import deliver_pending

State = OutboxMessage.State


def email_to(user, key="event:1", **extra):
    payload = {"to": user.email, "subject": "Hello", "text": "Body\nhttps://example.com/x"}
    return outbox.enqueue("test", user, "email", {**payload, **extra}, key)


@pytest.fixture
def mail_server_down(settings):
    """SMTP to a port nobody listens on: every send is refused, as by a server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }


def test_the_same_key_is_one_message_and_it_is_delivered_once(driver, mailoutbox):
    message = email_to(driver)

    assert email_to(driver) is None  # the event again: nothing new
    assert outbox.deliver(message.pk) is None
    assert outbox.deliver(message.pk) is None  # a second task: nothing to claim
    assert deliver_pending() == 0

    assert [m.to for m in mailoutbox] == [[driver.email]]
    message.refresh_from_db()
    assert (message.state, message.attempts, message.sent_at is not None) == (State.SENT, 1, True)


def test_of_two_workers_claiming_one_message_one_wins(driver):
    message = email_to(driver)

    assert outbox.claim(message.pk) is not None
    assert outbox.claim(message.pk) is None


def test_an_email_has_text_and_html_and_a_transactional_one_no_unsubscribe(driver, mailoutbox):
    outbox.deliver(email_to(driver).pk)

    [mail] = mailoutbox
    assert mail.body == "Body\nhttps://example.com/x"
    html, mime = mail.alternatives[0]
    assert mime == "text/html" and '<a href="https://example.com/x"' in html
    assert "List-Unsubscribe" not in mail.extra_headers


def test_an_email_a_driver_may_turn_off_has_one_click_unsubscribe(
    driver, client, mailoutbox, settings
):
    settings.BILLING_PUBLIC_URL = "https://charge.example"
    outbox.deliver(email_to(driver, unsubscribe="charging_finished").pk)

    [mail] = mailoutbox
    assert mail.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail.extra_headers["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://charge.example/")
    path = link.removeprefix("https://charge.example/")
    assert link in mail.alternatives[0][0]  # and in the HTML's footer

    page = client.get("/" + path)  # no login; a GET only asks
    assert page.status_code == 200 and "charging finished" in page.content.decode().lower()
    assert not Preferences.objects.filter(user=driver).exists()

    # The mail app's one-click POST: no cookie, no CSRF token (RFC 8058 §3.2).
    done = client.post("/" + path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert not preferences.wants(driver, preferences.CHARGING_FINISHED, "email")
    assert preferences.wants(driver, preferences.CHARGING_FINISHED, "portal")
    assert preferences.wants(driver, preferences.RECEIPTS, "email")


def test_a_forged_or_garbled_unsubscribe_link_is_a_400(driver, client):
    good = unsubscribe.token(driver, "charging_finished")
    for token in [good[:-2] + "xx", "nonsense", unsubscribe.token(driver, "payment_problems")]:
        response = client.post(reverse("portal:unsubscribe", args=[token]))
        assert response.status_code == 400
    assert not Preferences.objects.filter(user=driver).exists()


def test_a_failed_delivery_is_tried_again_after_a_backoff_then_failed_for_staff(
    driver, mail_server_down, settings
):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    message = email_to(driver)

    error = outbox.deliver(message.pk)

    assert error
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.PENDING, 1)
    assert message.last_error == error
    assert message.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert outbox.deliver(message.pk) is None and outbox.claim(message.pk) is None  # not due
    later = message.next_attempt_at + timedelta(seconds=1)
    assert outbox.deliver_pending(later) == 0
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.next_attempt_at - later >= timedelta(minutes=2) - timedelta(seconds=5)
    assert outbox.deliver_pending(message.next_attempt_at + timedelta(seconds=1)) == 0
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.FAILED, 3)


def test_staff_see_failures_and_resend_them(driver, admin_client, mailoutbox):
    message = email_to(driver)
    OutboxMessage.objects.filter(pk=message.pk).update(
        state=State.FAILED, attempts=8, last_error="550 mailbox unavailable"
    )
    sent = email_to(driver, key="event:2")
    outbox.deliver(sent.pk)
    mailoutbox.clear()
    changelist = reverse("admin:notifications_outboxmessage_changelist")

    page = admin_client.get(changelist, {"state": "failed"})
    assert page.status_code == 200
    assert "550 mailbox unavailable" in page.content.decode()

    response = admin_client.post(
        changelist,
        {"action": "resend", "_selected_action": [message.pk, sent.pk]},
    )

    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.PENDING, 0)
    assert outbox.deliver_pending() == 1  # the failed one; the sent one is not sent again
    assert [m.to for m in mailoutbox] == [[driver.email]]


def test_a_worker_killed_mid_delivery_leaves_a_message_the_sweep_sends_once(
    driver, mailoutbox, settings
):
    message = email_to(driver)
    # A worker claimed it and died before sending (its process killed): a claim, no send.
    claimed_at = timezone.now()
    assert outbox.claim(message.pk, now=claimed_at) is not None

    # While its lease runs, the sweep leaves it alone (the worker might still send it).
    assert outbox.deliver_pending(claimed_at + timedelta(seconds=10)) == 0
    assert mailoutbox == []

    # After the lease, the sweep (a restarted worker) takes it over: sent once.
    after_lease = claimed_at + timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS + 1)
    assert outbox.deliver_pending(after_lease) == 1
    assert outbox.deliver_pending(after_lease + timedelta(hours=1)) == 0
    assert [m.to for m in mailoutbox] == [[driver.email]]
    message.refresh_from_db()
    assert (message.state, message.attempts) == (State.SENT, 2)


def test_an_unknown_channel_is_a_programming_error(driver):
    with pytest.raises(KeyError):
        outbox.enqueue("test", driver, "pigeon", {}, "event:3")
