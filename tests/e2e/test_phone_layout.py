"""The portal on a phone (390 CSS pixels wide), in a real browser: no page scrolls
sideways, the header stays compact, price and card tables fit; dates read "6 Dec 2026
18:39" in English and numbers have a decimal comma in Swedish; the station map without
its tiles (no internet here) gives way to a note and the list. Screenshots of the phone
pages land in var/screenshots/ (phone-*.png)."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from asgiref.sync import sync_to_async
from django.conf import settings
from playwright.async_api import Page, expect

from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
from billing.wallet import credit_wallet_manually
from stations.models import ChargingSession
from tests.e2e.browser import browser_context, chromium, http_url, screenshot
from tests.portal.places import first_connector, pays_by_wallet, place, session_of, token_of
from users.models import User

PASSWORD = "a-long-and-unusual-passphrase-42"
PHONE = (390, 844)
# Taller than this and the header pushes the page's content below the first screen.
HEADER_MAX_PX = 140
STARTED = datetime(2026, 12, 6, 17, 39, tzinfo=UTC)  # 18:39 in Stockholm


class Phone:
    """A place with a time-of-use tariff and four connectors, a driver with a session,
    a wallet and a card."""

    def __init__(self, language: str) -> None:
        self.site = place(
            f"Eriksberg {language}",
            connectors=(
                ("Type2", "22", "Available"),
                ("Type2", "22", "Charging"),
                ("CCS2", "150", "Available"),
                ("CCS2", "150", "Faulted"),
            ),
            charge_point_id=f"PHONE-CP-{language.upper()}-WITH-A-LONG-IDENTIFIER",
        )
        self.site.address = "Östra Eriksbergsgatan 104"
        self.site.save(update_fields=["address"])
        tariff = Tariff.objects.create(name="Day and night", price_per_kwh=Decimal("2.40"))
        for position, (name, start, end, price) in enumerate(
            [("Night", time(22), time(6), "1.20"), ("Peak", time(16), time(19), "4.80")]
        ):
            TimeOfUsePeriod.objects.create(
                tariff=tariff,
                position=position,
                name=name,
                weekdays="12345",
                start_time=start,
                end_time=end,
                price_per_kwh=Decimal(price),
            )
        TariffAssignment.objects.create(tariff=tariff, site=self.site)
        self.email = f"phone.{language}@example.com"
        driver = User.objects.create_user(self.email, PASSWORD, language=language)
        EmailAddress.objects.create(user=driver, email=self.email, verified=True, primary=True)
        pays_by_wallet(driver)
        staff = User.objects.create_user(f"desk.phone.{language}@example.com", is_staff=True)
        credit_wallet_manually(driver, Decimal("250.50"), staff=staff, reason="Cash at the desk")
        token = token_of(driver, uid=f"PHONE-RFID-{language.upper()}-0001", name="Blue tag")
        self.session = session_of(token, first_connector(self.site), wh=23_450)
        ChargingSession.objects.filter(pk=self.session.pk).update(
            started_at=STARTED, stopped_at=STARTED + timedelta(hours=1)
        )


NO_SIDEWAYS_SCROLL = """() => {
    const wide = [...document.querySelectorAll("body *")]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                     && getComputedStyle(e).position !== "absolute")
        .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                  + (e.className && typeof e.className === "string" ? "." + e.className : ""));
    // A table that scrolls inside its box does not fit either.
    const scrolling = [...document.querySelectorAll(".table-wrap, table, nav, form")]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""));
    return {scroll: document.documentElement.scrollWidth, width: window.innerWidth, wide,
            scrolling};
}"""


async def fits(page: Page, path: str, language: str) -> None:
    await page.goto(path)
    await page.wait_for_load_state("load")
    measured = await page.evaluate(NO_SIDEWAYS_SCROLL)
    name = path.strip("/").replace("/", "-").split("?")[0] or "home"
    await screenshot(page, f"phone-{language}-{name}")
    assert measured["scroll"] <= measured["width"], (path, measured["wide"][:10])
    assert not measured["scrolling"], (path, measured["scrolling"])
    header = await page.locator("header.site-header").bounding_box()
    assert header is not None and header["height"] <= HEADER_MAX_PX, (path, header)


async def log_in(page: Page, email: str) -> None:
    await page.goto("/accounts/login/?next=/account/")
    await page.fill("input[name=login]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.locator("main form button[type=submit]").click()
    await page.wait_for_url("**/account/")


@pytest.mark.parametrize("language", ["en", "sv"])
async def test_no_portal_page_scrolls_sideways_on_a_phone(e2e_server, db_access, language):
    server, _mail = e2e_server
    phone = await sync_to_async(Phone)(language)
    async with (
        chromium() as browser,
        browser_context(browser, http_url(server), viewport=PHONE) as context,
    ):
        await context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": http_url(server)}]
        )
        page = await context.new_page()
        station = f"/stations/{phone.site.pk}/"
        for path in ("/stations/", station, "/accounts/login/"):
            await fits(page, path, language)

        # No map tiles here (no internet): the map gives way to a note; the list stays.
        await page.goto("/stations/")
        await expect(page.locator("#map-fallback")).to_be_visible()
        await expect(page.locator("#map")).to_be_hidden()
        await expect(page.locator(".results")).to_contain_text("Östra Eriksbergsgatan 104")

        await log_in(page, phone.email)
        for path in (
            "/stations/",
            station,
            "/charging/",
            f"/charging/{phone.session.pk}/",
            "/reservations/",
            "/account/",
            "/account/card/",
            "/account/wallet/",
            "/account/subscription/",
            "/account/statistics/",
            "/account/notifications/",
            "/account/support/",
            f"/account/support/new/?site={phone.site.pk}",
        ):
            await fits(page, path, language)

        # Dates and numbers as the language writes them.
        await page.goto("/account/")
        sessions = page.locator("main")
        if language == "en":
            await expect(sessions).to_contain_text("6 Dec 2026 18:39")
            await expect(sessions).to_contain_text("23.45")
        else:
            await expect(sessions).to_contain_text("2026-12-06 18:39")
            await expect(sessions).to_contain_text("23,45")
        await page.goto("/account/wallet/")
        await expect(page.locator("main")).to_contain_text(
            "250.50 SEK" if language == "en" else "250,50 SEK"
        )
        await page.goto(station)
        schedule = page.locator("table.schedule").first
        await expect(schedule).to_contain_text("Peak")
        await expect(schedule).to_contain_text(
            "6.00 SEK/kWh" if language == "en" else "6,00 SEK/kWh"
        )
