"""The portal in Swedish, chosen with the language switch in a real browser."""

from decimal import Decimal

from asgiref.sync import sync_to_async
from playwright.async_api import expect

from tests.e2e.browser import (
    browser_context,
    chromium,
    http_url,
    screenshot,
)
from tests.portal.places import place


def two_places() -> None:
    place("Frihamnen", connectors=(("Type2", "22", "Available"), ("CCS", "150", "Charging")))
    place("Backaplan", lat="57.720", lon="11.953", price_per_kwh=Decimal("3.00"))


async def test_the_station_list_switches_to_swedish(e2e_server, db_access):
    server, _mail = e2e_server
    await sync_to_async(two_places)()
    async with chromium() as browser, browser_context(browser, http_url(server)) as context:
        page = await context.new_page()
        await page.goto("/stations/")
        await expect(page.get_by_role("heading", name="Find a charger")).to_be_visible()

        await page.select_option("#language-select", "sv")
        await page.get_by_role("button", name="Change").click()

        await expect(page.locator("html")).to_have_attribute("lang", "sv")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Hitta en laddare")
        await expect(page.get_by_role("button", name="Byt")).to_be_visible()
        await expect(page.locator("#language-select")).to_have_value("sv")
        await expect(page.locator(".results")).to_contain_text("Frihamnen")
        await screenshot(page, "05-station-list-sv")
