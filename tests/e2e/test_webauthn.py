"""A security key (WebAuthn) as the second factor, in a real browser.

Chromium's virtual authenticator (Chrome DevTools Protocol, WebAuthn domain) plays the
key: it answers navigator.credentials.create() and .get() as a USB key would, with the
touch simulated. The server is a real `manage.py serve` reached as http://localhost
(browser.py: localhost_url), because a key is bound to a domain name, never to an IP
address. The server runs with DEBUG on, as every e2e server does, so allauth accepts the
key over plain http (settings.py: MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN); production is https.
"""

from pathlib import Path
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from asgiref.sync import sync_to_async
from playwright.async_api import CDPSession, Page, expect

from tests.e2e.browser import (
    browser_context,
    chromium,
    localhost_url,
    mailed_link,
    screenshot,
)
from tests.waiting import eventually
from users.models import User

PASSWORD = "a-long-and-unusual-passphrase-42"
# A USB key that asks for a touch (simulated) and a PIN (always "entered").
VIRTUAL_KEY = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
def mfa_server_and_mail(start_mail_server) -> tuple[str, Path]:
    """A server that asks staff for a second factor before the admin (off under DEBUG), and
    where its mail lands (a member of staff's first-factor link)."""
    return start_mail_server(ADMIN_REQUIRE_MFA="1")


@pytest.fixture(scope="module")
def mfa_server(mfa_server_and_mail) -> str:
    return mfa_server_and_mail[0]


@pytest.fixture(scope="module")
def mfa_mail(mfa_server_and_mail) -> Path:
    return mfa_server_and_mail[1]


def person(email: str, **fields: Any) -> User:
    """Someone whose address is confirmed, and who reads the portal in English."""
    user = User.objects.create_user(email, PASSWORD, language="en", **fields)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def security_keys_of(email: str) -> list[Authenticator]:
    return list(Authenticator.objects.filter(user__email=email, type=Authenticator.Type.WEBAUTHN))


class SecurityKey:
    """A virtual key plugged into one page's browser tab."""

    def __init__(self, cdp: CDPSession, authenticator_id: str) -> None:
        self.cdp = cdp
        self.authenticator_id = authenticator_id

    async def credentials(self) -> list[dict[str, Any]]:
        answer = await self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id}
        )
        return answer["credentials"]

    async def unplug(self) -> None:
        await self.cdp.send(
            "WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator_id}
        )


async def plug_in_key(page: Page) -> SecurityKey:
    """A new virtual key in the page's tab: it stays there across navigations."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_KEY})
    return SecurityKey(cdp, added["authenticatorId"])


async def log_in_with_password(page: Page, email: str, next_url: str = "/account/") -> None:
    await page.goto(f"/accounts/login/?next={next_url}")
    await page.fill("input[name=login]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.locator("main form button[type=submit]").click()
    await page.wait_for_load_state()


async def log_out(page: Page) -> None:
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("link", name="Log in")).to_be_visible()


async def add_security_key(page: Page, name: str) -> None:
    """allauth's page: name the key, press Add, the browser asks the key, the form posts."""
    await page.goto("/accounts/2fa/webauthn/add/")
    # allauth asks for the password again before a new way to log in is added.
    await page.wait_for_url("**/accounts/reauthenticate/?next=**")
    await page.fill("input[name=password]", PASSWORD)
    await page.locator("main form button[type=submit]").click()
    await page.wait_for_url("**/accounts/2fa/webauthn/add/")
    await expect(page.get_by_role("heading", name="Add Security Key")).to_be_visible()
    await page.fill("input[name=name]", name)
    await page.locator("#mfa_webauthn_add").click()
    # The first key also brings recovery codes, the way back in when the key is lost.
    await page.wait_for_url("**/accounts/2fa/recovery-codes/")


async def authenticate_with_key(page: Page) -> None:
    await page.locator("#mfa_webauthn_authenticate").click()
    await page.wait_for_load_state()


async def test_a_driver_adds_a_security_key_and_needs_it_to_log_in(mfa_server, db_access):
    email = "grace.key@example.com"
    await sync_to_async(person)(email)
    async with (
        chromium() as browser,
        browser_context(browser, localhost_url(mfa_server)) as context,
    ):
        page = await context.new_page()
        key = await plug_in_key(page)

        await log_in_with_password(page, email)
        await expect(page.get_by_role("heading", name="My account", level=1)).to_be_visible()

        await page.goto("/accounts/2fa/")
        await screenshot(page, "webauthn-01-two-factor-index")
        await add_security_key(page, "Blue USB key")
        await screenshot(page, "webauthn-02-recovery-codes")
        keys = await sync_to_async(security_keys_of)(email)
        assert [k.wrap().name for k in keys] == ["Blue USB key"]
        assert len(await key.credentials()) == 1

        await page.goto("/accounts/2fa/webauthn/")
        await expect(page.locator("main")).to_contain_text("Blue USB key")
        await screenshot(page, "webauthn-03-security-keys")
        await log_out(page)

        # The password alone is not enough any more: the key is asked for.
        await log_in_with_password(page, email)
        await page.wait_for_url("**/accounts/2fa/authenticate/")
        await expect(page.locator("#mfa_webauthn_authenticate")).to_be_visible()
        await screenshot(page, "webauthn-04-second-factor")
        signs_before = (await key.credentials())[0]["signCount"]

        await authenticate_with_key(page)
        await page.wait_for_url("**/account/")
        await expect(page.get_by_role("heading", name="My account", level=1)).to_be_visible()
        await expect(page.get_by_role("button", name="Log out")).to_be_visible()
        assert (await key.credentials())[0]["signCount"] > signs_before
        await log_out(page)


async def test_without_the_registered_key_the_driver_stays_out(mfa_server, db_access):
    email = "linus.key@example.com"
    await sync_to_async(person)(email)
    async with (
        chromium() as browser,
        browser_context(browser, localhost_url(mfa_server)) as context,
    ):
        page = await context.new_page()
        key = await plug_in_key(page)
        await log_in_with_password(page, email)
        await add_security_key(page, "Lost key")
        await log_out(page)

        # The key is lost; another one, never registered, is at hand.
        await key.unplug()
        other = await plug_in_key(page)
        await log_in_with_password(page, email)
        await page.wait_for_url("**/accounts/2fa/authenticate/")
        # The browser finds no credential of this site on the key: the ceremony fails
        # (allauth's webauthn.js logs the browser's error), and the page stays where it is.
        async with page.expect_console_message(lambda m: m.type == "error") as failure:
            await authenticate_with_key(page)
        assert "NotAllowedError" in (await failure.value).text
        assert await other.credentials() == []
        await expect(page).to_have_url(f"{localhost_url(mfa_server)}/accounts/2fa/authenticate/")

        # Unplugged altogether, nothing lets the driver past the second step either: the
        # account page sends them back to it, still logged out.
        await other.unplug()
        await page.goto("/account/")
        await expect(page).to_have_url(f"{localhost_url(mfa_server)}/accounts/2fa/authenticate/")
        await expect(page.get_by_role("link", name="Log in")).to_be_visible()
        await expect(page.get_by_role("heading", name="My account")).to_have_count(0)
        await screenshot(page, "webauthn-05-wrong-key-stays-out")


async def test_a_security_key_satisfies_the_admins_second_factor_rule(
    mfa_server, mfa_mail, db_access
):
    email = "ada.staff.key@example.com"
    await sync_to_async(person)(email, is_staff=True, is_superuser=True)
    async with (
        chromium() as browser,
        browser_context(browser, localhost_url(mfa_server)) as context,
    ):
        page = await context.new_page()
        key = await plug_in_key(page)

        # Without a second factor the admin sends staff to set one up.
        await page.goto("/admin/")
        await page.wait_for_url("**/accounts/login/?next=%2Fadmin%2F")
        await page.fill("input[name=login]", email)
        await page.fill("input[name=password]", PASSWORD)
        await page.locator("main form button[type=submit]").click()
        await page.wait_for_url("**/accounts/2fa/")
        await expect(page.locator(".notice.warn")).to_contain_text("Staff need a second factor")
        await screenshot(page, "webauthn-06-staff-need-a-second-factor")

        # A stolen password is not enough to enrol: the first factor waits for a link
        # emailed to the account (users/first_factor.py), opened in this browser.
        await page.goto("/accounts/2fa/webauthn/add/")
        await page.wait_for_url("**/accounts/2fa/confirm/")
        await page.get_by_role("button", name="Email me the link").click()
        link = await eventually(lambda: mailed_link(mfa_mail, email, "/accounts/2fa/confirm/"))
        assert link, f"no first-factor link mailed to {email}"
        await page.goto(link)

        await add_security_key(page, "Admin key")
        await page.goto("/admin/")
        await expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
        await page.goto("/")
        await log_out(page)

        # Next time the admin's login asks for the key, and the key opens it.
        await page.goto("/admin/")
        await page.wait_for_url("**/accounts/login/?next=%2Fadmin%2F")
        await page.fill("input[name=login]", email)
        await page.fill("input[name=password]", PASSWORD)
        await page.locator("main form button[type=submit]").click()
        await page.wait_for_url("**/accounts/2fa/authenticate/")
        await authenticate_with_key(page)
        await page.wait_for_url("**/admin/")
        await expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
        await screenshot(page, "webauthn-07-admin-after-key")
        assert len(await key.credentials()) == 1
