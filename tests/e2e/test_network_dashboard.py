"""The network dashboard in a real browser: it follows a charger's fault live (a real
charger over a WebSocket, the page's script reloading its figures), and a charger's page
draws its timeline; the Content-Security-Policy blocks nothing on either.

Screenshots land in var/screenshots/ (admin-network-dashboard, admin-charger-timeline)."""

from asgiref.sync import sync_to_async
from playwright.async_api import expect

from stations.models import ChargePoint, Site
from tests.billing.guest_charging import report_status
from tests.e2e.browser import browser_context, chromium, http_url, screenshot
from tests.e2e.test_admin_pages import logged_in


async def test_the_dashboard_follows_a_fault_live_and_the_charger_page_draws_its_timeline(
    e2e_server, charger, db_access
):
    server, _mail = e2e_server
    base_url = http_url(server)
    site = await sync_to_async(Site.objects.create)(name="E2E Network")
    async with (
        charger("E2E-NET", server=server, site=site) as cp,
        chromium() as browser,
        browser_context(browser, base_url) as context,
    ):
        await cp.boot()
        await report_status(cp, "Available")
        await logged_in(context, base_url)
        page = await context.new_page()
        await page.goto("/admin/operations/dashboard/")
        await expect(page.locator("html")).to_have_attribute("data-live", "watching")
        row = page.locator(f'.network-counts tr[data-site="{site.pk}"]')
        await expect(row.locator('td[data-state="available"]')).to_have_text("1")
        await expect(page.locator(".all-well")).to_be_visible()

        await report_status(cp, "Faulted")
        await expect(row.locator('td[data-state="faulted"]')).to_have_text("1")
        await expect(row.locator('td[data-state="available"]')).to_have_text("0")
        attention = page.locator('.needs-attention tr[data-charge-point="E2E-NET"]')
        await expect(attention).to_contain_text("every connector down")
        await screenshot(page, "admin-network-dashboard")

        charge_point = await sync_to_async(ChargePoint.objects.get)(charge_point_id="E2E-NET")
        await page.goto(f"/admin/stations/chargepoint/{charge_point.pk}/change/")
        bar = page.locator('.charger-operations .timeline[data-connector="1"] rect')
        await expect(bar.last).to_have_attribute("data-state", "Faulted")
        width = await page.locator(".timeline-bar").first.bounding_box()
        assert width is not None and width["width"] > 300
        await screenshot(page, "admin-charger-timeline")
