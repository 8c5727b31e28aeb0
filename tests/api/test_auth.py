"""Token auth for apps and integrations, `manage.py create_api_token`, throttling."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from users import api_tokens
from users.models import ApiToken

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_a_new_key_once(driver):
    out = StringIO()

    call_command("create_api_token", driver.email.upper(), stdout=out)

    key = out.getvalue().strip()
    assert ApiToken.objects.get(user=driver).digest == api_tokens.digest(key)
    # Only the hash is kept: the key cannot be printed again.
    with pytest.raises(CommandError, match="--rotate"):
        call_command("create_api_token", driver.email, stdout=StringIO())


def test_create_api_token_rotates_on_request(driver):
    _token, old = api_tokens.issue(driver)
    out = StringIO()

    call_command("create_api_token", driver.email, "--rotate", stdout=out)

    new = out.getvalue().strip()
    assert new != old
    assert ApiToken.objects.get(user=driver).digest == api_tokens.digest(new)


def test_create_api_token_lasts_api_token_days_or_the_days_asked(driver, settings):
    settings.API_TOKEN_DAYS = 7
    call_command("create_api_token", driver.email, stdout=StringIO())
    lasts = ApiToken.objects.get().expires_at - timezone.now()
    assert timedelta(days=6) < lasts <= timedelta(days=7)

    call_command("create_api_token", driver.email, "--rotate", "--days", "0", stdout=StringIO())
    assert ApiToken.objects.get().expires_at is None


def test_create_api_token_for_nobody_fails(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("create_api_token", "nobody@example.com")


def test_create_api_token_for_an_inactive_user_fails(make_user):
    user = make_user(is_active=False)
    with pytest.raises(CommandError, match="not active"):
        call_command("create_api_token", user.email)


def test_a_token_authenticates(driver):
    _token, key = api_tokens.issue(driver)
    client = APIClient()

    assert client.get("/api/v1/me/tokens/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
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


def test_the_schema_describes_the_token_header(anonymous):
    schema = anonymous.get("/api/schema/", {"format": "json"}).json()

    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"
    assert "Token" in scheme["description"]
