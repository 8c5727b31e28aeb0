"""Pages whose scripts are not ours work under the Content-Security-Policy in a real
browser: Swagger UI at /api/docs/ and the admin's forms. browser_context fails a test on
anything the policy blocks (Chromium reports it on the console)."""

from asgiref.sync import sync_to_async
from playwright.async_api import expect

from tests.conftest import PASSWORD
from tests.e2e.browser import (
    browser_context,
    chromium,
    http_url,
)
from users.models import User


async def test_swagger_ui_shows_the_api_under_the_policy(e2e_server, db_access):
    url, _ = e2e_server
    async with chromium() as browser, browser_context(browser, http_url(url)) as context:
        page = await context.new_page()
        await page.goto("/api/docs/")

        # Swagger UI's own script (from /api/docs/?script=) fetched the schema and drew it.
        await expect(page.get_by_role("heading", name="ChargeHub API")).to_be_visible()
        await expect(page.locator(".opblock").first).to_be_visible()


async def test_the_admin_forms_work_under_the_policy(e2e_server, db_access):
    url, _ = e2e_server
    await sync_to_async(User.objects.create_superuser)("csp-admin@example.com", PASSWORD)
    async with chromium() as browser, browser_context(browser, http_url(url)) as context:
        page = await context.new_page()
        # The e2e server runs with DEBUG: staff log in to the admin with a password.
        await page.goto("/admin/login/")
        await page.fill("input[name=username]", "csp-admin@example.com")
        await page.fill("input[name=password]", PASSWORD)
        await page.locator("input[type=submit]").click()
        await page.goto("/admin/stations/site/add/")

        # The admin's scripts ran: the navigation sidebar's filter and the time zone's
        # select are set up by them.
        await expect(page.locator("#nav-filter")).to_be_visible()
        await expect(page.locator("input[name=_save]")).to_be_visible()
