"""The installable portal and "a free charger near me" in a real browser: the service
worker registers at the root scope, the manifest is linked, *Find me a charger* starts a
watch with the browser's position, and when a real charger 1 km away reports a free
connector the notification reaches the driver's page live and is in their list.

The first test's browser cannot subscribe (Chromium has no Push API in an incognito-like
context, and its push service, Google's GCM, is out of reach): the page says so and the
driver is told in the portal. The second runs a browser profile whose push service is a
local stand-in for GCM (tests/e2e/gcm.py): the subscription succeeds, the portal stores
it, and the free charger is pushed to that endpoint instead, signed with the server's
VAPID key (only the browser holds the keys to decrypt it; decryption is tested against a
local push service in tests/notifications). Screenshot: var/screenshots/nearby-watch.png.
"""

from decimal import Decimal
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from playwright.async_api import expect

from notifications.models import NearbyWatch, OutboxMessage, PushSubscription
from stations.models import Connector, Site
from tests.billing.guest_charging import report_status
from tests.conftest import register
from tests.e2e.browser import (
    browser_context,
    chromium,
    chromium_with_push,
    http_url,
    screenshot,
)
from tests.e2e.gcm import GcmService
from tests.notifications.push_service import PUBLIC_KEY, VAPID, vapid_claims
from tests.waiting import eventually
from users.models import User

HERE = {"latitude": 57.7, "longitude": 11.97}


def near_station() -> Site:
    """A CCS 2 connector 1 km north of the driver, taken."""
    site = Site.objects.create(
        name="E2E Nearby", latitude=Decimal("57.708993"), longitude=Decimal("11.970000")
    )
    charge_point = register("E2E-NEARBY", site=site)
    Connector.objects.create(
        charge_point=charge_point,
        connector_id=1,
        connector_type=Connector.Type.CCS2,
        max_power_kw=Decimal(50),
        status=Connector.Status.CHARGING,
    )
    return site


def driver_session() -> str:
    driver = User.objects.create_user("e2e-nearby@example.com", "x" * 20, language="en")
    client = Client()
    client.force_login(driver)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def server_with_push(start_server, **env: str) -> str:
    """A server with VAPID keys that takes https push endpoints only, as in production."""
    return start_server(
        **{
            name: str(value)
            for name, value in VAPID.items()
            if name != "WEBPUSH_ALLOW_HTTP_ENDPOINTS"
        },
        **env,
    )


async def test_the_portal_registers_its_worker_and_a_free_charger_near_the_driver_shows_live(
    start_server, charger, db_access
):
    server = server_with_push(start_server)
    base_url = http_url(server)
    site = await sync_to_async(near_station)()
    cookie = await sync_to_async(driver_session)()
    async with (
        charger("E2E-NEARBY", server=server) as cp,
        chromium() as browser,
        browser_context(browser, base_url) as context,
    ):
        await cp.boot()
        await context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
        )
        await context.grant_permissions(["geolocation", "notifications"], origin=base_url)
        await context.set_geolocation(HERE)
        page = await context.new_page()
        await page.goto("/stations/")

        # Installable: the manifest is linked and the service worker controls the site.
        assert await page.get_attribute('link[rel="manifest"]', "href") == "/manifest.webmanifest"
        scope = await page.evaluate(
            "navigator.serviceWorker.ready.then(function (r) { return r.scope; })"
        )
        assert scope == base_url + "/"

        # Push on this device: asked for; this (incognito-like) context has no Push API.
        await page.get_by_role("button", name="Notify me on this device").click()
        await expect(page.locator("#push-status")).to_have_text(
            "This device cannot show our notifications."
        )
        assert not await sync_to_async(PushSubscription.objects.exists)()

        # Find me a charger: the browser's position goes with the wishes.
        card = page.locator("#nearby")
        await card.get_by_label("Within (km)").fill("2")
        await card.get_by_label("Connector").select_option("CCS2")
        await card.get_by_role("button", name="Start looking").click()
        await expect(page.locator("#nearby")).to_contain_text(
            "We are looking for a free charger within 2 km of you"
        )
        watch = await sync_to_async(NearbyWatch.objects.get)()
        assert (watch.latitude, watch.longitude) == (HERE["latitude"], HERE["longitude"])
        await screenshot(page, "nearby-watch")

        # The charger frees its connector: the header's count changes without a reload.
        await report_status(cp, "Available")
        await expect(page.locator("#inbox-unread")).to_have_text("1")
        assert not await sync_to_async(NearbyWatch.objects.exists)()

        await page.locator("#inbox-link").click()
        await expect(page.locator("main")).to_contain_text("A charger is free near you")
        await expect(page.locator("main")).to_contain_text(f"{site.name}, 1.0 km away: CCS 2 50 kW")


def sent_push(subscription: PushSubscription) -> OutboxMessage | None:
    """The outbox's push to `subscription`, once the push service took it."""
    return OutboxMessage.objects.filter(
        channel="webpush", payload__subscription=subscription.pk, state=OutboxMessage.State.SENT
    ).first()


async def test_the_portal_subscribes_this_browser_to_push_and_the_free_charger_is_pushed_to_it(
    start_server, charger, db_access, tmp_path
):
    gcm = GcmService(tmp_path).start()
    server = server_with_push(start_server, **gcm.server_env())
    base_url = http_url(server)
    await sync_to_async(near_station)()
    cookie = await sync_to_async(driver_session)()
    try:
        async with (
            charger("E2E-NEARBY", server=server) as cp,
            chromium_with_push(base_url, tmp_path / "profile", gcm.chromium_args()) as context,
        ):
            await cp.boot()
            await context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
            )
            await context.grant_permissions(["geolocation", "notifications"], origin=base_url)
            await context.set_geolocation(HERE)
            page = await context.new_page()
            await page.goto("/stations/")

            # The browser subscribes at its push service with the server's VAPID key, and
            # the page hands the subscription to the server.
            await page.get_by_role("button", name="Notify me on this device").click()
            await expect(page.locator("#push-status")).to_have_text(
                "This device will show our notifications."
            )
            token = gcm.token_for(PUBLIC_KEY)
            assert token is not None
            subscription = await sync_to_async(
                PushSubscription.objects.select_related("user").get
            )()
            assert subscription.user.email == "e2e-nearby@example.com"
            endpoint = urlsplit(subscription.endpoint)
            assert (endpoint.scheme, endpoint.path) == ("https", f"/fcm/send/{token}")

            card = page.locator("#nearby")
            await card.get_by_label("Within (km)").fill("2")
            await card.get_by_role("button", name="Start looking").click()
            await expect(card).to_contain_text("We are looking for a free charger")

            # The connector frees: the server pushes to that endpoint, signed with its
            # VAPID key and encrypted for the browser; the portal's list stays empty.
            await report_status(cp, "Available")
            assert await eventually(lambda: sent_push(subscription), timeout=30)
            [push] = gcm.pushes
            assert (push.host, push.message.path) == (endpoint.hostname, endpoint.path)
            claims = vapid_claims(push.message, PUBLIC_KEY)
            assert claims["aud"] == f"https://{endpoint.hostname}"
            assert push.message.headers["content-encoding"] == "aes128gcm"
            assert not await sync_to_async(OutboxMessage.objects.filter(channel="portal").exists)()
    finally:
        gcm.stop()
