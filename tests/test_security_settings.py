"""Transport security and the Content-Security-Policy (chargehub/settings.py).

Without DEBUG: https only (plain http redirected, except /health/), cookies over https only,
HSTS; a forwarded protocol believed only when SECURE_PROXY_SSL_HEADER says so. Every page
carries a Content-Security-Policy that runs no inline script, and the pages have none
(or only with the request's nonce). `check --deploy` is clean under the production
environment the README documents. The settings' defaults are read in a fresh process with
that environment, as a deployment would start.
"""

import re
from html.parser import HTMLParser

import pytest
from allauth.account.models import EmailAddress
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from billing.guest import guest_path
from tests.fresh_process import printed, run_with, settings_code
from tests.portal.places import first_connector, place, session_of, token_of
from users.models import User

# The README's production environment (Deployment, Security), without the services.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x7#kq!2v$9bz@p4w&m1n^c8r*t5y(u0i)o3e-s6d+f_g=h;j:l",
    "ALLOWED_HOSTS": "csms.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://csms.example.com",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "TRUSTED_PROXY_COUNT": "1",
}


def settings_under(env: dict[str, str]) -> dict:
    """The settings a process started with `env` gets (as JSON)."""
    names = [
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "TRUSTED_PROXY_COUNT",
        "SECURE_CSP",
    ]
    return printed(env, settings_code(f"{{n: getattr(settings, n) for n in {names!r}}}"))


# --- Settings from the environment -------------------------------------------------------


def test_check_deploy_is_clean_under_the_documented_production_environment():
    result = run_with(PRODUCTION, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_debug_the_defaults_are_https_only():
    values = settings_under({"DEBUG": "0"})

    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    # No header is believed to say https, and no X-Forwarded-For names the client.
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["TRUSTED_PROXY_COUNT"] == 0


def test_under_debug_plain_http_works_for_development():
    values = settings_under({"DEBUG": "1"})

    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0


def test_each_transport_setting_is_read_from_the_environment():
    values = settings_under(
        {
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "600",
            "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO, https",
            "TRUSTED_PROXY_COUNT": "2",
        }
    )

    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["TRUSTED_PROXY_COUNT"] == 2


def test_a_malformed_proxy_ssl_header_stops_the_start_with_a_clear_message():
    result = run_with({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "manage.py", "check")

    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be" in result.stderr
    assert "HTTP_X_FORWARDED_PROTO,https" in result.stderr


def test_the_policy_lets_in_the_configured_tile_server_and_stripe_api():
    policy = settings_under(
        {
            "PORTAL_MAP_TILE_URL": "https://{s}.tiles.example.org/{z}/{x}/{y}.png",
            "STRIPE_API_BASE": "http://127.0.0.1:8420",
        }
    )["SECURE_CSP"]

    assert "https://*.tiles.example.org" in policy["img-src"]
    assert "http://127.0.0.1:8420" in policy["connect-src"]
    assert "https://api.stripe.com" in policy["connect-src"]


# --- Behaviour over http -------------------------------------------------------------------


@pytest.fixture
def https_only(settings):
    """As in production: tests/conftest.py turns the redirect off for the rest of the suite."""
    settings.SECURE_SSL_REDIRECT = True


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(client, https_only):
    response = client.get("/stations/?available=1")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/stations/?available=1"


@pytest.mark.django_db
def test_health_answers_over_plain_http_for_load_balancers(client, https_only):
    assert client.get("/health/").status_code == 200


@pytest.mark.django_db
def test_a_forwarded_protocol_is_not_believed_by_default(client, https_only):
    response = client.get("/stations/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 301


@pytest.mark.django_db
def test_behind_a_proxy_that_says_https_pages_are_served_with_hsts(client, https_only, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    response = client.get("/stations/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_session_and_csrf_cookies_travel_over_https_only(client):
    user = User.objects.create_user("cookie@example.com", "a-long-enough-password-1")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    form = client.get("/accounts/login/", secure=True)
    login = client.post(
        "/accounts/login/",
        {"login": user.email, "password": "a-long-enough-password-1"},
        secure=True,
    )

    assert form.cookies["csrftoken"]["secure"] is True
    assert login.status_code == 302
    assert login.cookies["sessionid"]["secure"] is True


# --- Content-Security-Policy -----------------------------------------------------------------


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/stations/", "/accounts/login/", "/admin/login/", "/api/docs/"]
)
def test_pages_carry_a_policy_that_runs_no_inline_script(client, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = directives(response)
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_the_policy_lets_stripe_js_run_and_frame_the_card_field(client):
    policy = directives(client.get("/"))

    assert "https://js.stripe.com" in policy["script-src"]
    assert "https://js.stripe.com" in policy["frame-src"]
    assert "https://api.stripe.com" in policy["connect-src"]


@pytest.mark.django_db
def test_the_policy_lets_the_map_load_its_tiles(client, settings):
    policy = directives(client.get("/stations/"))

    assert "https://tile.openstreetmap.org" in policy["img-src"]


class _InlineCode(HTMLParser):
    """Inline scripts, inline styles and event handler attributes, with their nonce."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts += 1
            data = attributes.get("type") in ("application/json", "application/ld+json")
            if not attributes.get("src") and not data:
                self.found.append(f"<script nonce={attributes.get('nonce')}>")
        if tag == "style":
            self.found.append(f"<style nonce={attributes.get('nonce')}>")
        for name, _ in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}=...>")


def inline_code(html: str) -> _InlineCode:
    parser = _InlineCode()
    parser.feed(html)
    return parser


def nonce_of(response) -> str | None:
    match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    return match.group(1) if match else None


def admin_pages() -> list[str]:
    pages = ["/admin/"]
    for model in admin.site._registry:
        for view in ("changelist", "add"):
            try:
                pages.append(
                    reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")
                )
            except NoReverseMatch:
                pass
    return pages


@pytest.mark.django_db
def test_the_pages_have_no_inline_script_or_style_the_policy_would_block():
    site = place("Policy")
    connector = first_connector(site)
    driver = User.objects.create_user("policy-driver@example.com", "pw")
    session = session_of(token_of(driver), connector, active=True)
    staff = User.objects.create_superuser("policy-staff@example.com", "pw")
    anonymous, as_driver, as_staff = Client(), Client(), Client()
    as_driver.force_login(driver)
    as_staff.force_login(staff)
    charge_point = connector.charge_point
    visits = [
        (anonymous, path)
        for path in [
            "/",
            f"/stations/{site.pk}/",
            guest_path(connector),
            "/accounts/login/",
            "/accounts/signup/",
            "/accounts/password/reset/",
            "/admin/login/",
            "/api/docs/",
        ]
    ]
    visits += [
        (as_driver, path)
        for path in [
            "/charging/",
            f"/charging/{session.pk}/",
            "/reservations/",
            "/account/",
            "/account/card/",
            "/account/wallet/",
            "/account/subscription/",
            "/account/api-token/",
            "/account/statistics/",
            "/account/notifications/",
            "/accounts/email/",
            "/accounts/password/change/",
            "/accounts/2fa/",
            "/accounts/2fa/totp/activate",
            "/accounts/2fa/webauthn/add",
        ]
    ]
    visits += [(as_staff, path) for path in admin_pages()]
    visits += [
        (as_staff, reverse("admin:stations_chargepoint_change", args=[charge_point.pk])),
        (
            as_staff,
            reverse("admin:billing_guestpayment_qr_codes") + f"?charge_point={charge_point.pk}",
        ),
    ]

    shown, blocked = [], []
    for client, path in visits:
        response = client.get(path, follow=True)
        # A refusal is a page too (the guest page says card payments are not configured).
        if "text/html" not in response["Content-Type"]:
            continue
        shown.append(path)
        nonce = nonce_of(response)
        blocked += [
            f"{path}: {found}"
            for found in inline_code(response.content.decode()).found
            if not nonce or f"nonce={nonce}>" not in found
        ]

    assert {path for _, path in visits} <= set(shown)
    assert len(shown) > 60
    assert blocked == [], "\n".join(blocked)
