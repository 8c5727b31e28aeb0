"""API tokens (users/api_tokens.py): stored hashed, shown once, expiring, revoked by a new
password or a deactivated account, their last use recorded."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.users.conftest import PASSWORD
from users import api_tokens
from users.models import ApiToken

pytestmark = pytest.mark.django_db

TOKEN_PAGE = reverse("portal:money-api-token")
NEW_PASSWORD = "another-long-password-2"


@pytest.fixture
def person(make_person):
    return make_person("driver@example.com")


def api_status(key: str) -> int:
    return (
        Client()
        .get(reverse("api:my-wallet"), headers={"Authorization": f"Token {key}"})
        .status_code
    )


def shown_key(response) -> str:
    match = re.search(r'id="api-token" value="([0-9a-f]{40})"', response.content.decode())
    assert match, response.content.decode()
    return match.group(1)


def test_the_portal_shows_a_new_token_once_and_keeps_only_its_hash(client, person):
    client.force_login(person)

    response = client.post(TOKEN_PAGE, {"action": "create", "days": "30"})

    key = shown_key(response)
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=person)
    assert token.digest == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.prefix, token.digest}
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert api_status(key) == 200
    page = client.get(TOKEN_PAGE).content.decode()
    assert key not in page
    assert token.prefix in page


def test_replacing_shows_the_new_key_and_the_old_one_stops_working(client, person):
    client.force_login(person)
    old = shown_key(client.post(TOKEN_PAGE, {"action": "create"}))

    new = shown_key(client.post(TOKEN_PAGE, {"action": "rotate", "days": "0"}))

    assert new != old
    assert api_status(old) == 401
    assert api_status(new) == 200
    assert ApiToken.objects.get(user=person).expires_at is None


def test_an_expired_token_is_refused(person):
    token, key = api_tokens.issue(person, days=1)
    assert api_status(key) == 200

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())

    assert api_status(key) == 401


def test_last_use_is_recorded_at_most_once_a_minute(person):
    token, key = api_tokens.issue(person)
    assert token.last_used_at is None

    api_status(key)
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    api_status(key)
    assert ApiToken.objects.get().last_used_at == first

    a_minute_ago = timezone.now() - api_tokens.LAST_USE_PRECISION
    ApiToken.objects.update(last_used_at=a_minute_ago)
    api_status(key)
    assert ApiToken.objects.get().last_used_at > a_minute_ago


def test_a_password_change_in_the_portal_revokes_the_token(client, person):
    _token, key = api_tokens.issue(person)
    client.post(reverse("account_login"), {"login": person.email, "password": PASSWORD})

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    assert api_status(key) == 401


def test_a_password_reset_revokes_the_token(client, person, mailoutbox):
    _token, key = api_tokens.issue(person)
    client.post(reverse("account_reset_password"), {"email": person.email})
    link = re.search(r"https?://testserver(/\S+)", mailoutbox[0].body).group(1)
    form = client.get(link)["Location"]

    client.post(form, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert not ApiToken.objects.exists()
    assert api_status(key) == 401


def test_a_password_set_in_code_or_admin_revokes_the_token(person):
    _token, key = api_tokens.issue(person)

    person.set_password(NEW_PASSWORD)
    person.save()

    assert api_status(key) == 401


def test_a_password_rehashed_at_login_keeps_the_token(person):
    # A hash made with fewer iterations than today's is upgraded at the next login: the
    # password is the same, so the token stays.
    person.password = PBKDF2PasswordHasher().encode(PASSWORD, "somesalt", iterations=1000)
    person.save()
    _token, key = api_tokens.issue(person)

    Client().post(reverse("account_login"), {"login": person.email, "password": PASSWORD})

    person.refresh_from_db()
    assert "$1000$" not in person.password
    assert api_status(key) == 200


def test_deactivating_the_account_revokes_the_token(person):
    _token, key = api_tokens.issue(person)

    person.is_active = False
    person.save()

    assert not ApiToken.objects.exists()
    assert api_status(key) == 401


def test_staff_see_tokens_in_admin_without_the_secret_and_revoke_them(client, make_person, person):
    admin = make_person("admin@example.com", is_staff=True, is_superuser=True)
    token, key = api_tokens.issue(person)
    api_status(key)
    client.force_login(admin)

    listing = client.get(reverse("admin:users_apitoken_changelist")).content.decode()
    assert token.prefix in listing
    assert key not in listing
    assert token.digest not in listing
    assert client.get(reverse("admin:users_apitoken_add")).status_code == 403

    response = client.post(
        reverse("admin:users_apitoken_changelist"),
        {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert api_status(key) == 401
