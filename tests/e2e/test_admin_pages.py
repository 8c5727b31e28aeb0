"""The staff pages a first day leans on, in a real browser: the admin home's network
counts, a command to several chargers and its progress page (one charger silent), a CSV
export, a running session's page.

Screenshots land in var/screenshots/ (admin-home, admin-bulk-command, admin-session)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.async_api import BrowserContext, expect

from stations.models import ChargePoint, ChargingSession, Site
from tests.billing.sessions import charging_site, meter_sample, token_of
from tests.conftest import register
from tests.e2e.browser import browser_context, chromium, http_url, screenshot
from tests.stations.ocpp_wire import send
from users.models import User

# The server's own wait for a charger's answer: the silent charger costs this, once.
COMMAND_TIMEOUT = 3


@pytest.fixture(scope="module")
def admin_server(start_server) -> str:
    return start_server(OCPP_COMMAND_TIMEOUT=str(COMMAND_TIMEOUT))


async def logged_in(context: BrowserContext, base_url: str) -> None:
    """Staff's session cookie, made in the shared database: the login pages have tests
    of their own."""

    def session_cookie() -> str:
        staff = User.objects.create_superuser(email="e2e-staff@example.com", password="x" * 20)
        client = Client()
        client.force_login(staff)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    cookie = await sync_to_async(session_cookie)()
    await context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
    )


async def test_a_command_to_several_chargers_shows_each_ones_outcome(
    admin_server, charger, db_access
):
    base_url = http_url(admin_server)
    async with (
        charger("E2E-BULK-1", server=admin_server) as answering,
        charger("E2E-BULK-2", server=admin_server) as silent,
        chromium() as browser,
        browser_context(browser, base_url) as context,
    ):
        await answering.boot()
        await silent.boot()
        silent.answers["Reset"] = "silence"
        await logged_in(context, base_url)
        page = await context.new_page()
        await page.goto("/admin/stations/chargepoint/?q=E2E-BULK")
        await page.locator("#action-toggle").check()
        await page.select_option("select[name=action]", "reset")
        await page.locator("button[name=index]").click()
        await page.select_option("select[name=type]", "Soft")
        await page.get_by_role("button", name="Send").click()

        await page.wait_for_url("**/admin/stations/commandbatch/*/change/")
        rows = page.locator(".batch-progress tbody tr")
        await expect(rows.filter(has_text="E2E-BULK-1")).to_contain_text("Done")
        await expect(rows.filter(has_text="E2E-BULK-2")).to_contain_text("Timed out")
        await expect(page.locator(".batch-state")).to_have_text("Finished.")
        await screenshot(page, "admin-bulk-command")
    assert answering.received == [("Reset", {"type": "Soft"})]


async def test_a_session_list_exports_as_csv_and_a_running_session_shows_its_figures(
    admin_server, db_access
):
    def running_session() -> ChargingSession:
        connector = charging_site("E2E Admin", price_per_kwh=Decimal("2"))
        driver = User.objects.create_user("e2e-driver@example.com", "x" * 20)
        session = ChargingSession.objects.create(
            charge_point=connector.charge_point,
            connector=connector,
            id_tag=token_of(driver).uid,
            started_at=timezone.now().replace(microsecond=0) - timedelta(minutes=40),
            meter_start_wh=1000,
        )
        for minutes, wh, kw in ((10, "3000", "11"), (20, "5000", "11"), (30, "6500", "7.4")):
            meter_sample(
                session, "Energy.Active.Import.Register", wh, "Wh", minutes_after_start=minutes
            )
            meter_sample(session, "Power.Active.Import", kw, "kW", minutes_after_start=minutes)
        return session

    session = await sync_to_async(running_session)()
    base_url = http_url(admin_server)
    async with chromium() as browser, browser_context(browser, base_url) as context:
        await logged_in(context, base_url)
        page = await context.new_page()

        await page.goto(f"/admin/stations/chargingsession/{session.pk}/change/")
        await expect(page.locator('[data-figure="energy"]')).to_have_text("5.500")
        await expect(page.locator("#session-chart")).to_be_visible()
        await screenshot(page, "admin-session")

        await page.goto("/admin/stations/chargingsession/")
        await page.locator(f"input[name=_selected_action][value='{session.pk}']").check()
        await page.select_option("select[name=action]", "export_csv")
        async with page.expect_download() as download_info:
            await page.locator("button[name=index]").click()
        download = await download_info.value
        text = (await download.path()).read_text(encoding="utf-8")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[0] == "ID" and len(rows) == 1
    record = dict(zip(header, rows[0], strict=True))
    assert record["ID"] == str(session.pk)
    assert record["Charge point"] == session.charge_point.charge_point_id
    assert await sync_to_async(ChargePoint.objects.filter(pk=session.charge_point_id).exists)()


async def test_the_admin_home_shows_the_network_first(admin_server, charger, db_access):
    def a_site_with_two_chargers() -> None:
        site = Site.objects.create(name="E2E Home Depot")
        for charge_point_id in ("E2E-HOME-1", "E2E-HOME-2"):
            register(charge_point_id, site=site)

    await sync_to_async(a_site_with_two_chargers)()
    base_url = http_url(admin_server)
    async with (
        charger("E2E-HOME-1", server=admin_server) as online,
        chromium() as browser,
        browser_context(browser, base_url) as context,
    ):
        await online.boot()
        await send(
            online,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
        )
        await logged_in(context, base_url)
        page = await context.new_page()
        await page.goto("/admin/")
        row = page.locator('.network-counts tr:has(th:text("E2E Home Depot"))')
        await expect(row.locator('[data-state="online"]')).to_have_text("1")
        await expect(row.locator('[data-state="charger-offline"]')).to_have_text("1")
        await expect(row.locator('[data-state="charging"]')).to_have_text("1")
        # The network comes before the apps.
        assert await page.evaluate(
            """() => Boolean(document.querySelector(".network-home").compareDocumentPosition(
                document.querySelector("#content-main")) & Node.DOCUMENT_POSITION_FOLLOWING)"""
        )
        await screenshot(page, "admin-home")
