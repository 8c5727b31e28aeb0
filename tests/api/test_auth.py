"""Token auth for apps and integrations, `manage.py create_api_token`, throttling."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_the_users_token(driver):
    out = StringIO()

    call_command("create_api_token", driver.email.upper(), stdout=out)

    key = out.getvalue().strip()
    assert key == Token.objects.get(user=driver).key
    again = StringIO()
    call_command("create_api_token", driver.email, stdout=again)
    assert again.getvalue().strip() == key


def test_create_api_token_rotates_on_request(driver):
    old = Token.objects.create(user=driver).key
    out = StringIO()

    call_command("create_api_token", driver.email, "--rotate", stdout=out)

    assert out.getvalue().strip() != old
    assert Token.objects.get(user=driver).key == out.getvalue().strip()


def test_create_api_token_for_nobody_fails(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody@example.com")


def test_create_api_token_for_an_inactive_user_fails(make_user):
    user = make_user(is_active=False)
    with pytest.raises(CommandError, match="not active"):
        call_command("create_api_token", user.email)


def test_a_token_authenticates(driver):
    token = Token.objects.create(user=driver)
    client = APIClient()

    assert client.get("/api/v1/me/tokens/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/me/tokens/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-key")
    assert client.get("/api/v1/me/tokens/").status_code == 401


def test_the_portal_session_authenticates(client, driver):
    client.force_login(driver)

    assert client.get("/api/v1/me/tokens/").status_code == 200


def test_a_session_needs_the_csrf_token_to_change_things(driver):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(driver)

    assert client.post("/api/v1/me/tokens/", {"name": "x"}).status_code == 403


def test_anonymous_clients_are_throttled(anonymous, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/minute", "user": "5/minute"},
    }

    codes = [anonymous.get("/api/v1/stations/").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]


def test_users_are_throttled_per_user(client_for, driver, other_driver, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/minute", "user": "2/minute"},
    }
    mine, theirs = client_for(driver), client_for(other_driver)

    codes = [mine.get("/api/v1/me/tokens/").status_code for _ in range(3)]

    assert codes == [200, 200, 429]
    assert "Retry-After" in mine.get("/api/v1/me/tokens/")
    assert theirs.get("/api/v1/me/tokens/").status_code == 200


def test_staff_create_a_token_in_admin(client, make_user, driver):
    admin = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin)

    response = client.post("/admin/authtoken/tokenproxy/add/", {"user": driver.pk})

    assert response.status_code == 302, response.content[:2000]
    assert Token.objects.filter(user=driver).exists()
