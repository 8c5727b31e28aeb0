"""The portal is usable with assistive technology and the keyboard, in a real browser.

axe-core (the engine behind most accessibility checkers; the package
axe-playwright-python ships its axe.min.js) checks each main page as the browser draws
it, in English and in Swedish: labels, names, contrast, landmarks, language. A page with
a violation whose impact is "serious" or "critical" fails the test, each listed with the
rule, what it asks for and the elements at fault. Lesser findings ("moderate", "minor")
are advice and are left to review.

The keyboard test walks the station page with Tab and Enter only, from logging in to
starting a session on a simulated charger, and checks that the focused control shows
its focus (portal.css: :focus-visible).
"""

from datetime import time
from decimal import Decimal
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from asgiref.sync import sync_to_async
from axe_playwright_python.async_playwright import Axe
from django.conf import settings
from django.test import Client
from playwright.async_api import Page, expect

from billing.models import Tariff, TariffAssignment, TimeOfUsePeriod
from billing.wallet import credit_wallet_manually
from stations.models import Site
from tests.billing.guest_charging import report_status
from tests.e2e.browser import (
    browser_context,
    chromium,
    http_url,
    screenshot,
)
from tests.portal.places import first_connector, pays_by_wallet, place, session_of, token_of
from users.models import User

PASSWORD = "a-long-and-unusual-passphrase-42"
BLOCKING = ("critical", "serious")


class Portal:
    """What the pages show: two places, a driver who pays by wallet, one past session."""

    def __init__(self, language: str) -> None:
        self.site = place(
            f"Frihamnen {language}",
            connectors=(("Type2", "22", "Available"), ("CCS", "150", "Charging")),
            charge_point_id=f"A11Y-CP-{language.upper()}",
            price_per_kwh=Decimal("2.00"),
        )
        place(f"Backaplan {language}", lat="57.720", lon="11.953", price_per_kwh=Decimal(3))
        self.email = f"a11y.{language}@example.com"
        driver = User.objects.create_user(self.email, PASSWORD, language=language)
        EmailAddress.objects.create(user=driver, email=self.email, verified=True, primary=True)
        pays_by_wallet(driver)
        connector = first_connector(self.site)
        self.session = session_of(token_of(driver, name="Blue tag"), connector)
        self.guest_path = f"/charge/{connector.charge_point.charge_point_id}/1/"


def blocking_violations(results: dict[str, Any]) -> list[str]:
    """The serious and critical findings of one axe run, one readable line each."""
    lines = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        targets = "; ".join(
            f"{' '.join(node['target'])} — {node['failureSummary'].splitlines()[-1].strip()}"
            for node in violation["nodes"][:5]
        )
        lines.append(
            f"  [{violation['impact']}] {violation['id']}: {violation['help']} "
            f"({len(violation['nodes'])} element(s): {targets})"
        )
    return lines


async def check(page: Page, axe: Axe, path: str, language: str, found: dict[str, list[str]]):
    await page.goto(path)
    await page.wait_for_load_state("load")
    # The page is in the language asked for, or the check would prove nothing for it.
    await expect(page.locator("html")).to_have_attribute("lang", language)
    results = await axe.run(page)
    # axe ran its rules on this page (an empty or broken page passes nothing).
    assert results.response["passes"], f"axe checked nothing on {path}"
    lines = blocking_violations(results.response)
    if lines:
        found[f"{path} ({language})"] = lines
        await screenshot(page, f"a11y-{language}-{path.strip('/').replace('/', '-') or 'home'}")


@pytest.mark.parametrize("language", ["en", "sv"])
async def test_the_main_pages_have_no_serious_accessibility_violations(
    e2e_server, db_access, language
):
    server, _mail = e2e_server
    portal = await sync_to_async(Portal)(language)
    axe = Axe()
    found: dict[str, list[str]] = {}
    async with chromium() as browser, browser_context(browser, http_url(server)) as context:
        await context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": http_url(server)}]
        )
        page = await context.new_page()
        # What anyone sees, without an account.
        for path in (
            "/stations/",
            f"/stations/{portal.site.pk}/",
            "/accounts/signup/",
            "/accounts/login/",
            portal.guest_path,
        ):
            await check(page, axe, path, language, found)

        await page.goto("/accounts/login/?next=/account/")
        await page.fill("input[name=login]", portal.email)
        await page.fill("input[name=password]", PASSWORD)
        await page.locator("main form button[type=submit]").click()
        await page.wait_for_url("**/account/")

        # What a logged-in driver sees: the start form, their session, their money.
        for path in (
            "/stations/",
            f"/stations/{portal.site.pk}/",
            "/charging/",
            f"/charging/{portal.session.pk}/",
            "/account/",
            "/account/card/",
            "/account/wallet/",
            "/account/subscription/",
            "/account/statistics/",
            "/account/support/",
            f"/account/support/new/?site={portal.site.pk}",
            "/accounts/2fa/",
        ):
            await check(page, axe, path, language, found)

    report = "\n".join(f"{page}:\n" + "\n".join(lines) for page, lines in found.items())
    assert not found, f"serious or critical accessibility violations (axe-core):\n{report}"


CHARGER = "A11Y-KEYS-CP"
KEYBOARD_EMAIL = "keys.only@example.com"


def keyboard_driver_and_station(charge_point_id: str) -> Site:
    site = Site.objects.create(name="Ringön", city="Göteborg")
    tariff = Tariff.objects.create(name="Ringön", price_per_kwh=Decimal("2.00"))
    TariffAssignment.objects.create(tariff=tariff, site=site)
    driver = User.objects.create_user(KEYBOARD_EMAIL, PASSWORD, language="en")
    EmailAddress.objects.create(user=driver, email=KEYBOARD_EMAIL, verified=True, primary=True)
    pays_by_wallet(driver)
    staff = User.objects.create_user("desk.a11y@example.com", is_staff=True)
    credit_wallet_manually(driver, Decimal(100), staff=staff, reason="Cash at the desk")
    return site


FOCUSED = """() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    return {
        tag: element.tagName.toLowerCase(),
        name: element.getAttribute("name") || "",
        text: (element.innerText || element.value || "").trim(),
        outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
        focusVisible: element.matches(":focus-visible"),
    };
}"""


async def tab_to(page: Page, wanted: str, limit: int = 60) -> dict[str, Any]:
    """Press Tab until the focused element's text or name is `wanted`; returns it."""
    visited = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUSED)
        if wanted in (focused["text"], focused["name"]):
            return focused
        visited.append(focused["text"] or focused["name"] or focused["tag"])
    raise AssertionError(f"Tab never reached {wanted!r}; it went through {visited}")


async def test_a_driver_starts_charging_with_the_keyboard_alone(e2e_server, charger, db_access):
    server, _mail = e2e_server
    site = await sync_to_async(keyboard_driver_and_station)(CHARGER)
    async with charger(CHARGER, server=server, site=site) as cp, chromium() as browser:
        await cp.boot()
        await report_status(cp, "Available")
        async with browser_context(browser, http_url(server)) as context:
            page = await context.new_page()
            await page.goto(f"/stations/{site.pk}/")

            # The first Tab shows the skip link; Enter on it jumps to the content.
            await page.keyboard.press("Tab")
            skip = page.get_by_role("link", name="Skip to content")
            await expect(skip).to_be_focused()
            await expect(skip).to_be_in_viewport()

            login = await tab_to(page, "Log in to start charging")
            assert login["focusVisible"] and login["outline"], login
            await page.keyboard.press("Enter")
            await page.wait_for_url("**/accounts/login/?next=**")

            await tab_to(page, "login")
            await page.keyboard.type(KEYBOARD_EMAIL)
            await tab_to(page, "password")
            await page.keyboard.type(PASSWORD)
            await page.keyboard.press("Enter")
            await page.wait_for_url(f"{http_url(server)}/stations/{site.pk}/")

            start = await tab_to(page, "Start charging")
            assert start["tag"] == "button" and start["focusVisible"] and start["outline"], start
            await screenshot(page, "a11y-keyboard-focus-on-start")
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("heading", name="My charging")).to_be_visible()
            await expect(page.locator(".notice.good")).to_contain_text("plug in your car")

    assert [name for name, _request in cp.received if name == "RemoteStartTransaction"]


def admin_pages_data() -> tuple[str, int]:
    """A staff session (the login pages have their own checks) and a tariff with a
    time-of-use period and an assignment, as staff edit them most."""
    staff = User.objects.create_superuser(email="a11y-staff@example.com", password="x" * 20)
    client = Client()
    client.force_login(staff)
    site = place("A11Y Admin", charge_point_id="A11Y-ADMIN-CP", price_per_kwh=Decimal("2.00"))
    tariff = Tariff.objects.create(name="A11Y peak", price_per_kwh=Decimal("3.00"))
    TimeOfUsePeriod.objects.create(
        tariff=tariff, name="Peak", weekdays="12345", start_time=time(16), end_time=time(20)
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)
    return client.cookies[settings.SESSION_COOKIE_NAME].value, tariff.pk


@pytest.mark.parametrize("language", ["en", "sv"])
async def test_the_admin_pages_staff_use_most_have_no_serious_accessibility_violations(
    e2e_server, db_access, language
):
    server, _mail = e2e_server
    cookie, tariff_id = await sync_to_async(admin_pages_data)()
    axe = Axe()
    found: dict[str, list[str]] = {}
    async with chromium() as browser, browser_context(browser, http_url(server)) as context:
        await context.add_cookies(
            [
                {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": http_url(server)},
                {"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": http_url(server)},
            ]
        )
        page = await context.new_page()
        for path in (
            "/admin/",
            "/admin/stations/chargepoint/",
            "/admin/billing/tariff/add/",
            f"/admin/billing/tariff/{tariff_id}/change/",
        ):
            await check(page, axe, path, language, found)
    assert not found, "\n".join(f"{page}:\n" + "\n".join(lines) for page, lines in found.items())
