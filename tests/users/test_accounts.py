"""Drivers' accounts (django-allauth): sign-up with email verification, login with email,
failed logins limited, password reset, and TOTP as a second factor."""

import re
import time

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from tests.users.conftest import PASSWORD, totp_code
from users.models import User

pytestmark = pytest.mark.django_db


def link_in(message) -> str:
    """The path of the one link in an email to this site."""
    urls = re.findall(r"https?://testserver(/\S+)", message.body)
    assert len(urls) == 1, message.body
    return urls[0]


def log_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def logged_in_as(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_sign_up_verify_the_email_then_log_in(client, mailoutbox):
    response = client.post(
        reverse("account_signup"),
        {"email": "Anna@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert logged_in_as(client) is None  # mandatory verification: not before the link
    user = User.objects.get()
    assert user.email == "anna@example.com"  # one spelling, whatever was typed
    assert user.check_password(PASSWORD)

    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["anna@example.com"]
    confirm = link_in(mailoutbox[0])

    browser = Client()
    log_in(browser, "anna@example.com")
    assert logged_in_as(browser) is None  # not confirmed yet

    assert client.get(confirm).status_code == 200
    assert client.post(confirm).status_code == 302

    browser = Client()
    response = log_in(browser, "anna@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert logged_in_as(browser) == user


def test_sign_up_asks_no_username(client):
    page = client.get(reverse("account_signup")).content.decode()
    assert 'name="email"' in page
    assert 'name="username"' not in page


def test_an_address_already_taken_cannot_sign_up_again(client, make_person, mailoutbox):
    make_person("taken@example.com")
    client.post(
        reverse("account_signup"),
        {"email": "taken@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_wrong_passwords_up_to_the_limit_still_leave_the_right_one_working(
    client, make_person, settings
):
    person = make_person()
    for _ in range(settings.ACCOUNT_LOGIN_ATTEMPTS - 1):
        response = log_in(client, person.email, "wrong password")
        assert response.status_code == 200
        assert logged_in_as(client) is None
    log_in(client, person.email)
    assert logged_in_as(client) == person


def test_too_many_wrong_passwords_lock_the_address_out_even_with_the_right_one(
    client, make_person, settings
):
    person = make_person()
    for _ in range(settings.ACCOUNT_LOGIN_ATTEMPTS):
        log_in(client, person.email, "wrong password")
    response = log_in(client, person.email)
    assert logged_in_as(client) is None
    assert "Too many failed login attempts" in response.content.decode()
    # The limit is per address: another person on the same network is not locked out.
    other = make_person("other@example.com")
    log_in(client, other.email)
    assert logged_in_as(client) == other


def test_password_reset_by_email(client, make_person, mailoutbox):
    person = make_person()
    response = client.post(reverse("account_reset_password"), {"email": person.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    # The link leads to a page without the key in its address (allauth keeps it in the
    # session, so that it does not leak through the Referer header).
    form_page = client.get(link_in(mailoutbox[0]))
    assert form_page.status_code == 302
    new_password = "another-long-password-2"
    response = client.post(
        form_page["Location"], {"password1": new_password, "password2": new_password}
    )
    assert response.status_code == 302

    browser = Client()
    log_in(browser, person.email)
    assert logged_in_as(browser) is None
    log_in(browser, person.email, new_password)
    assert logged_in_as(browser) == person


def test_an_unknown_address_gets_no_reset_email(client, db, mailoutbox, settings):
    settings.ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
    client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert mailoutbox == []


def wrong_code(secret: str) -> str:
    """A code that no step within the tolerance accepts."""
    now = time.time()
    valid = {totp_code(secret, now + step) for step in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222") if code not in valid)


def test_the_totp_helper_matches_rfc_6238():
    # RFC 6238 Appendix B, SHA-1, T = 59 s: 94287082 (8 digits), so 287082 with 6.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"
    assert totp_code(secret, at=59) == "287082"


def test_a_driver_activates_totp_then_login_asks_for_the_code(client, make_person, settings):
    # One step either side, so that a 30 s boundary during the test does not fail it.
    settings.MFA_TOTP_TOLERANCE = 1
    person = make_person()
    log_in(client, person.email)
    # Changing one's second factors asks for the password again.
    page = client.get(reverse("mfa_activate_totp"))
    assert page["Location"].startswith(reverse("account_reauthenticate"))
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret

    client.post(reverse("mfa_activate_totp"), {"code": wrong_code(secret)})
    assert not Authenticator.objects.filter(user=person).exists()
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()

    browser = Client()
    response = log_in(browser, person.email)
    assert response["Location"] == reverse("mfa_authenticate")
    assert logged_in_as(browser) is None  # the password alone is not enough now

    browser.post(reverse("mfa_authenticate"), {"code": wrong_code(secret)})
    assert logged_in_as(browser) is None
    response = browser.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert logged_in_as(browser) == person


def test_the_second_factor_pages_render_in_the_portal_layout(client, make_person):
    person = make_person()
    client.force_login(person)
    for name in ["mfa_index", "account_reauthenticate", "account_email", "account_change_password"]:
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        assert "base.html" in [t.name for t in response.templates], name
