"""The in-portal channel: the driver's notification list, its unread count, marking read,
and the live message to the driver's open pages (notifications/inbox.py)."""

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from chargehub.asgi import application
from notifications import events, outbox
from notifications.models import Notification, Watch
from stations.models import Connector
from tests.portal.places import first_connector, place
from users.models import User

PAGE = reverse("portal:notifications")
UNREAD = reverse("portal:notifications-unread")


def tell(user: User, key: str = "event:1", title: str = "Charging finished at Hamnen"):
    message = events.in_portal("test", user, title, "Body", "/account/charging/", key=key)
    return message, outbox.deliver(message.pk) if message else None


def test_a_delivered_notification_is_listed_unread_once_and_marked_read(driver, driver_client):
    message, error = tell(driver)
    assert error is None
    tell(driver)  # the same event again: nothing new
    # The sweep repeating a delivery (a crash after the row, before "sent") adds no row.
    assert outbox.transport_for("portal").send(message) is None
    assert Notification.objects.filter(user=driver).count() == 1

    assert driver_client.get(UNREAD).json() == {"unread": 1}
    page = driver_client.get(PAGE).content.decode()
    assert "Charging finished at Hamnen" in page and 'class="unread"' in page
    assert 'id="inbox-unread"' in page  # the header's badge, filled by inbox.js

    assert driver_client.post(reverse("portal:notifications-read")).status_code == 302
    assert driver_client.get(UNREAD).json() == {"unread": 0}
    assert 'class="unread"' not in driver_client.get(PAGE).content.decode()


def test_another_drivers_notifications_are_not_listed_or_counted(driver, make_user):
    other = make_user()
    tell(other, title="Something private")
    client = Client()
    client.force_login(driver)
    assert client.get(UNREAD).json() == {"unread": 0}
    assert "Something private" not in client.get(PAGE).content.decode()


def test_a_visitor_counts_nothing_and_cannot_mark_read(client):
    assert client.get(UNREAD).json() == {"unread": 0}
    response = client.post(reverse("portal:notifications-read"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_free_connector_is_listed_in_the_portal_as_well_as_emailed(driver, mailoutbox):
    connector = first_connector(place("Hamnen"))
    Connector.objects.filter(pk=connector.pk).update(status="Charging")
    Watch.objects.create(user=driver, connector=connector)
    Connector.objects.filter(pk=connector.pk).update(status="Available")

    assert events.notify_watchers(connector.pk) == 1

    assert len(mailoutbox) == 1
    (notification,) = Notification.objects.filter(user=driver)
    assert notification.title == mailoutbox[0].subject
    assert notification.url == reverse("portal:station", args=[connector.charge_point.site_id])


async def test_the_drivers_open_page_hears_a_new_notification_with_the_unread_count(db_access):
    def set_up() -> tuple[User, bytes]:
        driver = User.objects.create_user("inbox-live@example.com", "pw")
        browser = Client()
        browser.force_login(driver)
        return driver, f"sessionid={browser.cookies['sessionid'].value}".encode()

    driver, cookie = await sync_to_async(set_up)()
    headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
    page = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await page.connect()
    assert connected
    try:
        await sync_to_async(tell)(driver)
        heard = await page.receive_json_from(timeout=5)
        assert heard["kind"] == "notification"
        assert (heard["title"], heard["unread"]) == ("Charging finished at Hamnen", 1)
    finally:
        await page.disconnect()
