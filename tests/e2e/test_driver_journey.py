"""A new driver's whole way in a real browser, from sign-up to the receipt's PDF.

Debian's Chromium, driven by Playwright, against a real server process (`manage.py
serve`, Celery tasks run in it); a simulated OCPP 1.6 charger over a real WebSocket
plays the charger and the car. Screenshots of the key pages are saved (browser.py:
E2E_SCREENSHOTS, by default var/screenshots/).

The tariff: 2.00 SEK per kWh net, 25 % VAT, so 2.50 SEK per kWh; the session delivers
4.8 kWh: 12.00 SEK.
"""

import io
import re
from decimal import Decimal
from pathlib import Path

from asgiref.sync import sync_to_async
from playwright.async_api import Page, expect
from pypdf import PdfReader

from billing.models import BillingAccount, Invoice, Tariff, TariffAssignment
from billing.wallet import credit_wallet_manually
from stations.models import Connector, Site
from tests.billing.guest_charging import report_status
from tests.conftest import PASSWORD, eventually, register
from tests.e2e.browser import (
    TIMEOUT_MS,
    browser_context,
    chromium,
    http_url,
    mailed_link,
    screenshot,
)
from tests.stations.ocpp_wire import ago, iso, send
from users.models import User

CHARGER = "E2E-CP-1"
SITE = "Lindholmen Science Park"
DRIVER_EMAIL = "ada.e2e@example.com"
DRIVER_PASSWORD = "a-long-and-unusual-passphrase-42"
# What a live update (pushed over ws/live/) may take to show on a page.
LIVE_TIMEOUT_MS = 60_000
# Pushed figures arrive within a second or two; a page that polled every 10 s instead
# would miss this.
PUSH_TIMEOUT_MS = 5_000


def set_up_station(charge_point_id: str, site_name: str) -> None:
    site = Site.objects.create(
        name=site_name,
        address="Lindholmspiren 3",
        postal_code="417 56",
        city="Göteborg",
        latitude=Decimal("57.706"),
        longitude=Decimal("11.938"),
    )
    register(charge_point_id, PASSWORD, site=site)
    tariff = Tariff.objects.create(
        name="Göteborg standard", price_per_kwh=Decimal("2.00"), vat_rate=Decimal(25)
    )
    TariffAssignment.objects.create(tariff=tariff, site=site)


def describe_connector(charge_point_id: str) -> None:
    """What an operator types in the admin: the plug and its power."""
    Connector.objects.filter(charge_point__charge_point_id=charge_point_id, connector_id=1).update(
        connector_type="Type2", max_power_kw=Decimal(22)
    )


def pays_from_a_credited_wallet(driver_email: str) -> None:
    """Cash at the desk: the driver pays from a wallet, so each session gets a receipt."""
    driver = User.objects.get(email=driver_email)
    BillingAccount.objects.update_or_create(
        user=driver, defaults={"payment_method": BillingAccount.PaymentMethod.WALLET}
    )
    staff = User.objects.create_user("desk.e2e@example.com", is_staff=True)
    credit_wallet_manually(driver, Decimal(200), staff=staff, reason="Cash at the desk")


async def watching_live(page: Page) -> None:
    """Wait until the page's live socket listens (live.js): updates sent from now on arrive.

    A driver plugs in seconds after the page loads; the test's charger would otherwise
    answer before the page's socket has even opened.
    """
    await expect(page.locator("html")).to_have_attribute(
        "data-live", "watching", timeout=LIVE_TIMEOUT_MS
    )


def received(cp, action: str) -> list[dict]:
    return [request for name, request in cp.received if name == action]


async def meter_value(
    cp, transaction_id: int, wh: int, *, seconds_ago: int = 1, **more: str
) -> None:
    """An energy reading, and more measurands given as {measurand: "value unit"}."""
    sampled = [
        {
            "value": str(wh),
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "context": "Sample.Periodic",
        }
    ]
    for measurand, reading in more.items():
        value, unit = reading.split()
        sampled.append({"value": value, "measurand": measurand, "unit": unit})
    await send(
        cp,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [{"timestamp": iso(ago(seconds=seconds_ago)), "sampledValue": sampled}],
        },
    )


async def sign_up_and_verify(page: Page, mail: Path) -> None:
    await page.goto("/accounts/signup/")
    await page.fill("input[name=email]", DRIVER_EMAIL)
    await page.fill("input[name=password1]", DRIVER_PASSWORD)
    await page.fill("input[name=password2]", DRIVER_PASSWORD)
    await page.locator("main form button[type=submit]").click()
    await page.wait_for_load_state()

    link = await eventually(
        lambda: mailed_link(mail, DRIVER_EMAIL, "/accounts/confirm-email/"), timeout=30
    )
    assert link, f"no verification mail to {DRIVER_EMAIL} in {mail}"
    await page.goto(link)
    # allauth asks to confirm with a POST (a link opened by a mail scanner confirms nothing).
    await page.locator("main form button[type=submit]").click()
    await page.wait_for_load_state()

    if not await page.get_by_role("button", name="Log out").count():
        await page.goto("/accounts/login/")
        await page.fill("input[name=login]", DRIVER_EMAIL)
        await page.fill("input[name=password]", DRIVER_PASSWORD)
        await page.locator("main form button[type=submit]").click()
        await page.wait_for_load_state()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()


async def test_a_new_driver_signs_up_charges_live_and_downloads_the_receipt(
    e2e_server, charger, db_access, tmp_path
):
    server, mail = e2e_server
    await sync_to_async(set_up_station)(CHARGER, SITE)
    async with charger(CHARGER, server=server) as cp, chromium() as browser:
        await cp.boot()
        await report_status(cp, "Available")
        await sync_to_async(describe_connector)(CHARGER)

        async with browser_context(browser, http_url(server)) as context:
            page = await context.new_page()
            await sign_up_and_verify(page, mail)
            await sync_to_async(pays_from_a_credited_wallet)(DRIVER_EMAIL)

            # Find the station.
            await page.get_by_role("link", name="Find a charger").first.click()
            await expect(page.get_by_role("heading", name="Find a charger")).to_be_visible()
            station_link = page.get_by_role("link", name=SITE)
            await expect(station_link).to_be_visible()
            await expect(page.locator(".results")).to_contain_text("1 of 1 available")
            await expect(page.locator(".results .status[data-connector]")).to_have_text("Available")
            await screenshot(page, "01-station-list")

            await station_link.click()
            await expect(page.get_by_role("heading", name=SITE, level=1)).to_be_visible()
            await expect(page.locator("main .status[data-connector]")).to_have_text("Available")
            await expect(page.locator("table.price")).to_contain_text("2.50 SEK/kWh")
            await screenshot(page, "02-station")

            # Start: the portal sends RemoteStartTransaction with the driver's app token.
            await page.get_by_role("button", name="Start charging").click()
            await expect(page.get_by_role("heading", name="My charging")).to_be_visible()
            await expect(page.locator(".notice.good")).to_contain_text("plug in your car")
            await watching_live(page)
            starts = await eventually(lambda: received(cp, "RemoteStartTransaction"), timeout=30)
            assert starts and starts[0]["connector_id"] == 1, cp.received
            id_tag = starts[0]["id_tag"]

            # The car takes the charge.
            started = await send(
                cp,
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": id_tag,
                    "meterStart": 10_000,
                    "timestamp": iso(ago(minutes=25)),
                },
            )
            assert started["idTagInfo"]["status"] == "Accepted"
            transaction_id = started["transactionId"]
            await report_status(cp, "Charging")

            # The list of my sessions reloads itself when a session starts (live.js).
            session_link = page.get_by_role("link", name=f"Session {transaction_id}")
            await expect(session_link).to_be_visible(timeout=LIVE_TIMEOUT_MS)
            await session_link.click()
            energy = page.locator('[data-field="energy_kwh"]')
            await expect(energy).to_have_text("0.00")
            power, battery = (
                page.locator('[data-field="power_kw"]'),
                page.locator('[data-field="soc_percent"]'),
            )
            await expect(power).to_be_hidden()
            await expect(battery).to_be_hidden()
            await watching_live(page)

            # kWh rise on the page while it is open: the server pushes its figures.
            await meter_value(
                cp, transaction_id, 11_200, seconds_ago=60, **{"Power.Active.Import": "7400 W"}
            )
            await expect(energy).to_have_text("1.20", timeout=PUSH_TIMEOUT_MS)
            await expect(power).to_have_text("7.4")
            await expect(battery).to_be_hidden()
            await meter_value(
                cp, transaction_id, 14_800, **{"Power.Active.Import": "11 kW", "SoC": "54 Percent"}
            )
            await expect(energy).to_have_text("4.80", timeout=PUSH_TIMEOUT_MS)
            await expect(power).to_have_text("11.0")
            await expect(battery).to_have_text("54")
            await expect(page.locator('[data-field="cost"]')).to_have_text("12.00\u00a0SEK")
            await screenshot(page, "03-live-session")

            # Stop: the charger is asked, and ends the transaction.
            await page.get_by_role("button", name="Stop charging").click()
            await expect(page.locator(".notice.good")).to_contain_text("asked to stop")
            await watching_live(page)
            stops = await eventually(lambda: received(cp, "RemoteStopTransaction"), timeout=30)
            assert stops == [{"transaction_id": transaction_id}], cp.received
            await send(
                cp,
                "StopTransaction",
                {
                    "transactionId": transaction_id,
                    "meterStop": 14_800,
                    "timestamp": iso(ago(seconds=1)),
                    "idTag": id_tag,
                    "reason": "Remote",
                },
            )
            await report_status(cp, "Finishing")
            # The session page reloads itself when the session ends.
            await expect(page.get_by_role("button", name="Stop charging")).to_have_count(
                0, timeout=LIVE_TIMEOUT_MS
            )
            await expect(page.locator('[data-field="cost"]')).to_have_text("12.00\u00a0SEK")

            # The receipt: settled in the server as the charger stopped.
            issued = await eventually(
                lambda: Invoice.objects.filter(account__user__email=DRIVER_EMAIL).exists(),
                timeout=30,
            )
            assert issued, "no receipt was issued"
            await page.get_by_role("link", name="My account").click()
            receipts = page.locator("#invoices-heading + .table-wrap a")
            await expect(receipts).to_have_count(1)
            await expect(page.locator("main")).to_contain_text("188.00\u00a0SEK")  # 200 - 12
            await screenshot(page, "04-account")

            async with page.expect_download(timeout=TIMEOUT_MS) as download_info:
                await receipts.first.click()
            download = await download_info.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)

    document = await sync_to_async(Invoice.objects.get)(account__user__email=DRIVER_EMAIL)
    assert saved.name == f"{document.display_number}.pdf"
    data = saved.read_bytes()
    assert data.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert document.display_number in text
    assert SITE in text and CHARGER in text
    # The receipt is in the driver's language; only the amount is checked here.
    assert re.search(r"12[.,]00", text), text
