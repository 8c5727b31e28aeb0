"""My account → Notifications: on which channels a driver wants each kind (rows from the
registry, notifications/preferences.py KINDS), and their open watches."""

import re
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from billing import documents, invoicing, settlement
from billing.models import BillingAccount, Invoice, SessionCharge
from notifications import events, preferences
from notifications.models import (
    Notification,
    OutboxMessage,
    Preferences,
    PushSubscription,
    Watch,
)
from tests.billing.sessions import charging_site, finished_session, token_of
from tests.notifications.choices import ticked
from tests.portal.places import first_connector, place
from users.models import User

pytestmark = pytest.mark.django_db

URL = reverse("portal:notifications")
STARTED = datetime(2026, 3, 10, 8, tzinfo=UTC)


def checkbox(page: str, name: str) -> str:
    """The <input> tag of a box on the page."""
    (tag,) = re.findall(rf'<input type="checkbox" name="{name}"[^>]*>', page)
    return tag


def stop_url(watch: Watch) -> str:
    return reverse("portal:notifications-stop-waiting", args=[watch.pk])


def test_anonymous_is_sent_to_log_in(client):
    for response in (client.get(URL), client.post(URL, {})):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    assert not Preferences.objects.exists()


def test_the_account_page_links_to_the_notifications_page(driver_client):
    page = driver_client.get(reverse("portal:account")).content.decode()
    assert f'href="{URL}"' in page


def test_every_kind_of_the_registry_is_a_row_with_its_defaults_ticked(driver, driver_client):
    response = driver_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    # Built from the registry: a kind added to KINDS is a row here without an edit.
    for kind, rule in preferences.KINDS.items():
        if rule.staff:  # a staff alert is not a driver's choice
            assert f'name="{kind}__' not in page
            continue
        assert str(kind.label) in page and str(rule.description) in page
        for channel in preferences.CHANNELS:
            box = checkbox(page, f"{kind}__{channel}")
            assert (" checked" in box) == (channel in rule.default | rule.always)
            assert (" disabled" in box) == (channel in rule.always)
    assert " disabled" in checkbox(page, "payment_problems__email")
    assert " disabled" not in checkbox(page, "receipts__email")
    assert "a payment that fails can get your charging cards blocked" in page
    assert 'name="webhook' not in page  # webhooks are for integrators
    assert not Preferences.objects.exists()  # looking changes nothing


def test_saving_moves_receipts_to_the_portal_and_keeps_the_rest(driver, driver_client):
    response = driver_client.post(
        URL, ticked(receipts=["portal"], charging_finished=["portal", "webpush"])
    )

    assert response.status_code == 302
    assert response["Location"] == URL
    assert not preferences.wants(driver, preferences.RECEIPTS, "email")
    assert preferences.wants(driver, preferences.RECEIPTS, "portal")
    assert not preferences.wants(driver, preferences.CHARGING_FINISHED, "email")
    assert preferences.wants(driver, preferences.CHARGING_FINISHED, "webpush")
    # Not posted (a disabled box never is), and still on: it cannot be turned off.
    assert preferences.wants(driver, preferences.PAYMENT_PROBLEMS)
    page = driver_client.get(URL).content.decode()
    assert "Your notification settings are saved." in page
    assert " checked" not in checkbox(page, "receipts__email")
    assert " checked" in checkbox(page, "receipts__portal")
    assert " checked" not in checkbox(page, "charging_finished__email")

    driver_client.post(URL, ticked())
    assert preferences.wants(driver, preferences.RECEIPTS)
    assert Preferences.objects.filter(user=driver).count() == 1


def test_a_transactional_kind_left_without_a_channel_is_a_form_error_and_nothing_changes(
    driver, driver_client
):
    driver_client.post(URL, ticked(wallet_low=["portal"]))
    saved = Preferences.objects.get(user=driver).channels

    response = driver_client.post(
        URL, ticked(receipts=[], session_ended=["email"], wallet_low=["email"])
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Receipts cannot be turned off entirely: keep at least one channel." in page
    assert Preferences.objects.get(user=driver).channels == saved
    assert preferences.wants(driver, preferences.RECEIPTS, "email")
    assert not preferences.wants(driver, preferences.WALLET_LOW, "email")
    # A kind that may be turned off entirely may be.
    assert driver_client.post(URL, ticked(wallet_low=[])).status_code == 302
    assert not preferences.channels_for(driver, preferences.WALLET_LOW)


def test_a_posted_payment_problems_off_changes_nothing(driver, driver_client):
    data = ticked()
    data.pop("payment_problems__email")
    driver_client.post(URL, {**data, "payment_problems__email": "false"})
    assert preferences.wants(driver, preferences.PAYMENT_PROBLEMS)


def test_a_garbled_value_is_refused_with_a_form_error_and_nothing_is_saved(driver, driver_client):
    response = driver_client.post(URL, {**ticked(), "receipts__email": "maybe"})

    assert response.status_code == 400
    assert "Tick the box or leave it empty." in response.content.decode()
    assert not Preferences.objects.exists()
    assert preferences.wants(driver, preferences.RECEIPTS)


def test_push_without_a_device_is_explained_on_the_page(driver, driver_client, settings):
    driver_client.post(URL, ticked(bookings=["webpush"]))

    page = driver_client.get(URL).content.decode()
    assert "No device of yours takes push yet" in page
    assert "Chosen by push:" in page and "Bookings: confirmed, ended unused" in page
    assert 'id="push-subscribe"' not in page  # this server has no VAPID keys

    settings.WEBPUSH_VAPID_PUBLIC_KEY, settings.WEBPUSH_VAPID_PRIVATE_KEY = "BKey", "secret"
    page = driver_client.get(URL).content.decode()
    assert 'id="push-subscribe"' in page  # offered on this device
    PushSubscription.objects.create(
        user=driver, endpoint="https://push.example/1", p256dh="k", auth="a"
    )
    page = driver_client.get(URL).content.decode()
    assert "No device of yours takes push yet" not in page
    assert "Push goes to the device where you turned it on." in page


def test_wants_refuses_an_unknown_kind(driver):
    with pytest.raises(ValueError):
        preferences.wants(driver, "newsletter")


# --- Watches --------------------------------------------------------------------------------


def test_open_watches_are_listed_with_a_stop_button_and_stopping_closes_one(driver, driver_client):
    site = place("Väntplatsen", connectors=(("CCS2", "150", "Charging"),))
    (watch,) = events.watch(driver, [first_connector(site)])

    page = driver_client.get(URL).content.decode()
    assert site.name in page
    assert f'action="{stop_url(watch)}"' in page

    response = driver_client.post(stop_url(watch))

    assert response.status_code == 302
    assert response["Location"] == URL
    assert not Watch.objects.exists()
    page = driver_client.get(URL).content.decode()
    assert "You will not be emailed when that connector becomes free." in page
    assert "You are not waiting for any connector." in page


def test_another_drivers_watch_is_not_found_by_get_or_post(driver_client):
    other = User.objects.create_user("other@example.com", "pw")
    site = place("Någon annans", connectors=(("CCS2", "50", "Charging"),))
    (watch,) = events.watch(other, [first_connector(site)])

    assert driver_client.get(stop_url(watch)).status_code == 404
    assert driver_client.post(stop_url(watch)).status_code == 404
    assert Watch.objects.filter(pk=watch.pk, notified_at=None).exists()
    assert site.name not in driver_client.get(URL).content.decode()


def test_stopping_is_a_post_and_a_told_watch_cannot_be_stopped(driver, driver_client):
    site = place("Stängd", connectors=(("CCS2", "50", "Charging"),))
    (watch,) = events.watch(driver, [first_connector(site)])

    assert driver_client.get(stop_url(watch)).status_code == 405
    Watch.objects.filter(pk=watch.pk).update(notified_at=STARTED)
    assert driver_client.post(stop_url(watch)).status_code == 404
    assert Watch.objects.filter(pk=watch.pk).exists()  # history stays


def test_anonymous_cannot_stop_a_watch(client, driver):
    site = place("Anonym", connectors=(("CCS2", "50", "Charging"),))
    (watch,) = events.watch(driver, [first_connector(site)])
    response = client.post(stop_url(watch))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert Watch.objects.filter(pk=watch.pk).exists()


# --- Receipts by email (billing asks preferences.wants) ------------------------------------


def paid_wallet_session(driver: User) -> SessionCharge:
    BillingAccount.objects.create(user=driver, payment_method=BillingAccount.PaymentMethod.WALLET)
    session = finished_session(charging_site(), token_of(driver), started_at=STARTED, wh=10_000)
    return settlement.settle_session(session.pk)


def test_receipts_off_means_a_receipt_in_the_portal_and_no_email(
    driver, driver_client, mailoutbox, django_capture_on_commit_callbacks
):
    driver_client.post(URL, ticked(receipts=["portal"]))

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        charge = paid_wallet_session(driver)

    assert charge.status == SessionCharge.Status.PAID
    receipt = charge.document
    assert receipt.kind == Invoice.Kind.RECEIPT
    assert mailoutbox == []
    receipt.refresh_from_db()
    assert receipt.emailed_at is None
    account_page = driver_client.get(reverse("portal:account")).content.decode()
    assert reverse("billing:invoice-pdf", args=[receipt.pk]) in account_page
    # In the notification list, as chosen: one row, linking the receipt.
    [listed] = OutboxMessage.objects.filter(recipient=driver, kind="receipt")
    assert listed.channel == "portal"
    [notice] = Notification.objects.filter(user=driver, kind="receipt")
    assert notice.url == reverse("billing:invoice-pdf", args=[receipt.pk])
    assert receipt.display_number in notice.title


def test_receipts_on_by_default_are_emailed(driver, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        charge = paid_wallet_session(driver)
    assert [message.to for message in mailoutbox] == [[driver.email]]
    assert charge.document.display_number in mailoutbox[0].subject


def test_a_monthly_invoice_is_emailed_even_with_receipts_off(
    driver, driver_client, mailoutbox, django_capture_on_commit_callbacks
):
    driver_client.post(URL, ticked(receipts=["portal"]))
    account = BillingAccount.objects.create(
        user=driver, payment_method=BillingAccount.PaymentMethod.INVOICE
    )
    session = finished_session(charging_site(), token_of(driver), started_at=STARTED, wh=5_000)
    settlement.settle_session(session.pk)

    invoice = invoicing.issue_monthly_invoice(account, date(2026, 3, 1))

    with django_capture_on_commit_callbacks(execute=True):  # emails leave after commit
        assert documents.email_if_not_sent(invoice.pk) is True
    assert [message.to for message in mailoutbox] == [[driver.email]]
