"""The dashboard live: a real charger's changes reach a member of staff's page socket
(`ws/live/`, group "network"), and nobody else can listen to them."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from stations.models import Site
from tests.billing.guest_charging import report_status
from tests.portal.test_live import _cookie_of, _socket, _watch


async def _next_network_message(page: WebsocketCommunicator, **expected: object) -> dict:
    """The next "network" message matching `expected` (others, e.g. a boot's, are skipped)."""
    while True:
        message = await page.receive_json_from(timeout=10)
        if message.get("kind") == "network" and expected.items() <= message.items():
            return message


async def test_a_chargers_connection_and_status_changes_reach_the_staff_dashboard(
    charger, make_user, db_access
):
    staff = await sync_to_async(make_user)("stations.view_chargepoint", is_staff=True)
    site = await sync_to_async(Site.objects.create)(name="Live network")
    page = await _socket(await sync_to_async(_cookie_of)(staff))
    try:
        assert await _watch(page, watch="network") == {
            "kind": "watching",
            "watch": "network",
            "id": None,
        }
        async with charger("NET-LIVE", site=site) as cp:
            assert await _next_network_message(page, event="connected") == {
                "kind": "network",
                "event": "connected",
                "charge_point": "NET-LIVE",
            }
            await cp.boot()
            await report_status(cp, "Available")
            await report_status(cp, "Faulted")
            message = await _next_network_message(page, event="connector", status="Faulted")
            assert message == {
                "kind": "network",
                "event": "connector",
                "charge_point": "NET-LIVE",
                "connector": 1,
                "status": "Faulted",
                "previous_status": "Available",
            }
        assert await _next_network_message(page, event="disconnected") == {
            "kind": "network",
            "event": "disconnected",
            "charge_point": "NET-LIVE",
        }
    finally:
        await page.disconnect()


@pytest.mark.parametrize(
    "who", ["anonymous", "driver", "staff without the permission", "inactive staff"]
)
async def test_only_staff_who_may_view_charge_points_may_watch_the_network(
    make_user, db_access, who
):
    def cookie() -> bytes | None:
        if who == "anonymous":
            return None
        if who == "driver":
            return _cookie_of(make_user("stations.view_chargepoint"))
        if who == "staff without the permission":
            return _cookie_of(make_user(is_staff=True))
        user = make_user("stations.view_chargepoint", is_staff=True)
        browser_cookie = _cookie_of(user)
        user.is_active = False
        user.save()
        return browser_cookie

    page = await _socket(await sync_to_async(cookie)())
    try:
        assert (await _watch(page, watch="network"))["kind"] == "refused"
    finally:
        await page.disconnect()
