"""Every second factor added or removed, and new recovery codes, are told to the account's
address in its own language (ACCOUNT_EMAIL_NOTIFICATIONS, users/account_adapter.py)."""

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django.urls import reverse

from tests.users.conftest import PASSWORD, totp_code

# allauth tells of a new factor once the request's transaction commits: real commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def tolerant_totp(settings) -> None:
    settings.MFA_TOTP_TOLERANCE = 1


def logged_in(email: str) -> Client:
    client = Client()
    client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    return client


def activate_totp(client: Client) -> None:
    secret = client.get(reverse("mfa_activate_totp")).context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302


def test_adding_and_removing_an_authenticator_app_is_emailed(make_person, mailoutbox):
    person = make_person("anna@example.com", language="en")
    client = logged_in(person.email)

    activate_totp(client)
    assert [m.to for m in mailoutbox] == [[person.email]]
    assert "Authenticator App Activated" in mailoutbox[0].subject

    client.post(reverse("mfa_generate_recovery_codes"))
    assert "Recovery Codes Generated" in mailoutbox[1].subject

    totp = Authenticator.objects.get(user=person, type=Authenticator.Type.TOTP)
    client.post(reverse("mfa_deactivate_totp"))
    assert not Authenticator.objects.filter(pk=totp.pk).exists()
    assert "Authenticator App Deactivated" in mailoutbox[2].subject
    assert all(m.to == [person.email] for m in mailoutbox)


def test_the_notice_is_in_the_account_language_not_the_pages(make_person, mailoutbox):
    person = make_person("sven@example.com", language="sv")
    client = logged_in(person.email)
    client.cookies["django_language"] = "en"

    activate_totp(client)

    assert "Autentiseringsapp aktiverad" in mailoutbox[0].subject


def test_staff_are_told_of_their_first_factor_too(make_person, mailoutbox, settings):
    settings.ADMIN_REQUIRE_MFA = True
    staff = make_person("staff@example.com", is_staff=True, language="en")
    client = logged_in(staff.email)
    client.post(reverse("staff_first_factor"))
    client.get(mailoutbox[0].body.split("testserver", 1)[1].split()[0])

    activate_totp(client)

    assert "Authenticator App Activated" in mailoutbox[1].subject
    assert mailoutbox[1].to == [staff.email]
