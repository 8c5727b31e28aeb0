"""My account → Notifications in a real browser: one row per kind of the registry, a
transactional kind left without a channel is a form error, and push chosen without a
device is explained with *Notify me on this device* (shown by app.js where the browser
can push). Screenshot: var/screenshots/notification-choices.png."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from playwright.async_api import expect

from notifications import preferences
from tests.e2e.browser import browser_context, chromium, http_url, screenshot
from tests.notifications.push_service import VAPID
from users.models import User


def driver_session() -> tuple[User, str]:
    driver = User.objects.create_user("e2e-choices@example.com", "x" * 20, language="en")
    client = Client()
    client.force_login(driver)
    return driver, client.cookies[settings.SESSION_COOKIE_NAME].value


async def test_the_driver_chooses_channels_per_kind_and_is_told_what_push_needs(
    start_server, db_access
):
    server = start_server(
        **{
            name: str(value)
            for name, value in VAPID.items()
            if name != "WEBPUSH_ALLOW_HTTP_ENDPOINTS"
        }
    )
    base_url = http_url(server)
    driver, cookie = await sync_to_async(driver_session)()
    async with chromium() as browser, browser_context(browser, base_url) as context:
        await context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
        )
        page = await context.new_page()
        await page.goto("/account/notifications/")

        receipts_email = page.get_by_label("Receipts: Email", exact=True)
        await expect(receipts_email).to_be_checked()
        await expect(page.get_by_label("Payment problems: Email", exact=True)).to_be_disabled()

        # Receipts on no channel: refused, with the reason at the row.
        await receipts_email.uncheck()
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("main")).to_contain_text(
            "Receipts cannot be turned off entirely: keep at least one channel."
        )
        assert await sync_to_async(preferences.wants)(driver, preferences.RECEIPTS, "email")

        # Receipts in the portal, bookings by push: saved; push needs a device.
        await page.get_by_label("Receipts: In the portal", exact=True).check()
        await page.get_by_label("Bookings: confirmed, ended unused: Push", exact=True).check()
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("main")).to_contain_text("Your notification settings are saved.")
        assert await sync_to_async(preferences.wants)(driver, preferences.BOOKINGS, "webpush")
        assert not await sync_to_async(preferences.wants)(driver, preferences.RECEIPTS, "email")
        await expect(page.locator("#push-choice")).to_contain_text(
            "No device of yours takes push yet"
        )
        await expect(page.get_by_role("button", name="Notify me on this device")).to_be_visible()
        await screenshot(page, "notification-choices")
