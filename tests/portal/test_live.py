"""The live-update socket: what a page watching it receives after a domain event."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from chargehub.asgi import application
from stations import live
from stations.models import ChargingSession, Connector, Site
from stations.signals import connector_status_changed, session_ended
from tests.billing.guest_charging import report_status
from tests.portal.places import first_connector, place, session_of, token_of
from tests.waiting import eventually
from users.models import User

ORIGIN = (b"origin", b"http://localhost")


def _cookie_of(user: User) -> bytes:
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


async def _socket(cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _watch(communicator: WebsocketCommunicator, **watch) -> dict:
    await communicator.send_json_to(watch)
    return await communicator.receive_json_from(timeout=5)


def _status_change(connector: Connector, status: str) -> None:
    previous = connector.status
    connector.status = status
    connector.save()
    connector_status_changed.send(sender=Connector, connector=connector, previous_status=previous)


def _end(session: ChargingSession) -> None:
    session.status = ChargingSession.Status.COMPLETED
    session.save()
    session_ended.send(sender=ChargingSession, session=session)


async def test_station_list_and_site_watchers_get_a_connector_status_change(db_access):
    site = await sync_to_async(place)("Live list")
    connector = await sync_to_async(first_connector)(site)
    list_page, site_page, other_site_page = await _socket(), await _socket(), await _socket()
    try:
        assert (await _watch(list_page, watch="stations"))["kind"] == "watching"
        assert (await _watch(site_page, watch="site", id=site.pk))["kind"] == "watching"
        await _watch(other_site_page, watch="site", id=site.pk + 1000)

        await sync_to_async(_status_change)(connector, "Charging")

        for page in (list_page, site_page):
            update = await page.receive_json_from(timeout=5)
            assert update == {
                "kind": "connector",
                "connector": connector.pk,
                "charge_point": connector.charge_point_id,
                "status": "Charging",
                "previous_status": "Available",
            }
        assert await other_site_page.receive_nothing(timeout=0.5)
    finally:
        for page in (list_page, site_page, other_site_page):
            await page.disconnect()


async def test_only_the_driver_watches_their_session(db_access):
    def set_up() -> tuple[ChargingSession, bytes, bytes]:
        driver = User.objects.create_user("live-driver@example.com", "pw")
        other = User.objects.create_user("live-other@example.com", "pw")
        session = session_of(token_of(driver), first_connector(place("Live")), active=True)
        return session, _cookie_of(driver), _cookie_of(other)

    session, driver_cookie, other_cookie = await sync_to_async(set_up)()
    mine, theirs, anonymous = (
        await _socket(driver_cookie),
        await _socket(other_cookie),
        await _socket(),
    )
    try:
        assert (await _watch(mine, watch="session", id=session.pk))["kind"] == "watching"
        assert (await _watch(theirs, watch="session", id=session.pk))["kind"] == "refused"
        assert (await _watch(anonymous, watch="session", id=session.pk))["kind"] == "refused"

        await sync_to_async(_end)(session)

        # Twice: as the watched session, and as a session of this driver.
        for _ in range(2):
            update = await mine.receive_json_from(timeout=5)
            assert update == {"kind": "session", "session": session.pk, "status": "completed"}
        assert await theirs.receive_nothing(timeout=0.5)
        assert await anonymous.receive_nothing(timeout=0.1)
    finally:
        for page in (mine, theirs, anonymous):
            await page.disconnect()


async def test_a_page_from_another_origin_is_refused(db_access):
    communicator = WebsocketCommunicator(
        application, "/ws/live/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize("message", [[], "x", {"watch": "site", "id": "1"}, {"watch": "all"}])
async def test_anything_but_a_watch_is_refused(db_access, message):
    page = await _socket()
    try:
        await page.send_json_to(message)
        if isinstance(message, dict):
            assert (await page.receive_json_from(timeout=5))["kind"] == "refused"
        else:
            assert await page.receive_nothing(timeout=0.3)
    finally:
        await page.disconnect()


async def test_a_real_chargers_status_notification_reaches_its_station_page(charger, db_access):
    """Across processes: the OCPP server relays, the page's socket here receives."""
    site = await sync_to_async(Site.objects.create)(name="Live across processes")
    async with charger("PORTAL-LIVE", site=site) as cp:
        await cp.boot()
        await report_status(cp, "Available")
        page = await _socket()
        try:
            assert (await _watch(page, watch="site", id=site.pk))["kind"] == "watching"
            await report_status(cp, "Preparing")
            update = await page.receive_json_from(timeout=10)
            assert (update["kind"], update["status"]) == ("connector", "Preparing")
            assert update["previous_status"] == "Available"
        finally:
            await page.disconnect()


async def test_updates_relayed_from_a_server_thread_go_out_in_order_and_a_full_queue_drops_the_rest(
    db_access, monkeypatch, caplog
):
    """A server's database thread hands its updates to the server's loop, which sends
    them in the order relayed; past live.MAX_WAITING waiting, the rest are dropped (the
    pages' next load is right) and counted in a warning, not one line each."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("test-live-order", channel)
    monkeypatch.setattr(live, "MAX_WAITING", 4)
    for n in range(10):  # as the server's loop runs them: one after another, no pause
        live._queue_update(["test-live-order"], {"kind": "test", "n": n})

    received = [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(4)]
    assert [message["data"]["n"] for message in received] == [0, 1, 2, 3]
    assert await eventually(lambda: "6 live updates dropped" in caplog.text)
    assert caplog.text.count("dropped") == 2  # the first drop, then the count
    await layer.group_discard("test-live-order", channel)
