"""A member of staff's first second factor waits for an emailed link (users/first_factor.py):
a stolen staff password alone must not be enough to set up a factor and open the admin."""

import re
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core import signing
from django.test import Client
from django.urls import reverse

from tests.users.conftest import PASSWORD, totp_code
from users import first_factor
from users.models import ApiToken

pytestmark = pytest.mark.django_db

CONFIRM_PAGE = reverse("staff_first_factor")


@pytest.fixture(autouse=True)
def mfa_required(settings) -> None:
    settings.ADMIN_REQUIRE_MFA = True
    # One step either side, so that a 30 s boundary during the test does not fail it.
    settings.MFA_TOTP_TOLERANCE = 1


@pytest.fixture
def staff(make_person):
    return make_person("staff@example.com", is_staff=True, is_superuser=True, language="en")


def logged_in_with_password(email: str) -> Client:
    """A browser that logged in with the password alone, as a thief with it would."""
    client = Client()
    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    # allauth asks for the password again before second factors change.
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    return client


def activate_totp(client: Client):
    """Set up an authenticator app as the page asks; the last answer."""
    page = client.get(reverse("mfa_activate_totp"))
    if page.status_code != 200:
        return page
    secret = page.context["form"].secret
    return client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})


def emailed_path(message) -> str:
    paths = re.findall(r"https?://testserver(/\S+)", message.body)
    assert len(paths) == 1, message.body
    return paths[0]


def test_a_stolen_staff_password_alone_cannot_set_up_a_factor_nor_open_the_admin(staff):
    thief = logged_in_with_password(staff.email)

    assert thief.get(reverse("admin:index"))["Location"] == reverse("mfa_index")
    for name in ["mfa_activate_totp", "mfa_add_webauthn", "mfa_generate_recovery_codes"]:
        for response in [thief.get(reverse(name)), thief.post(reverse(name), {"code": "123456"})]:
            assert response.status_code == 302, name
            assert response["Location"] == CONFIRM_PAGE, name
    assert not Authenticator.objects.filter(user=staff).exists()
    assert thief.get(reverse("admin:index"))["Location"] == reverse("mfa_index")
    page = thief.get(CONFIRM_PAGE)
    assert page.status_code == 200
    assert staff.email in page.content.decode()


def test_a_stolen_staff_password_cannot_add_an_address_for_the_link(staff, mailoutbox):
    thief = logged_in_with_password(staff.email)

    response = thief.post(reverse("account_email"), {"action_add": "", "email": "x@evil.example"})

    assert response["Location"] == CONFIRM_PAGE
    assert not EmailAddress.objects.filter(email="x@evil.example").exists()
    assert mailoutbox == []


def test_a_stolen_staff_password_cannot_make_an_api_token(staff):
    thief = logged_in_with_password(staff.email)

    response = thief.post(reverse("portal:money-api-token"), {"action": "create"})

    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_with_the_emailed_link_staff_set_up_their_first_factor_and_open_the_admin(
    staff, mailoutbox
):
    client = logged_in_with_password(staff.email)

    assert client.post(CONFIRM_PAGE)["Location"] == CONFIRM_PAGE
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [staff.email]
    response = client.get(emailed_path(mailoutbox[0]))
    assert response["Location"] == reverse("mfa_index")

    response = activate_totp(client)
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_link_is_in_the_staff_members_language(make_person, mailoutbox):
    staff = make_person("personal@example.com", is_staff=True, language="sv")
    logged_in_with_password(staff.email).post(CONFIRM_PAGE)

    assert "andra faktor" in mailoutbox[0].subject


def test_the_link_does_nothing_for_another_account(staff, make_person, mailoutbox):
    logged_in_with_password(staff.email).post(CONFIRM_PAGE)
    other = make_person("colleague@example.com", is_staff=True)
    colleague = logged_in_with_password(other.email)

    response = colleague.get(emailed_path(mailoutbox[0]))

    assert response.status_code == 400
    assert activate_totp(colleague)["Location"] == CONFIRM_PAGE
    assert not Authenticator.objects.exists()


def test_an_expired_link_is_refused(staff):
    class HalfAnHourAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time() - first_factor.LINK_MAX_AGE.total_seconds()))

    token = HalfAnHourAgo(salt=first_factor.SALT).sign_object(
        {"user": staff.pk, "email": staff.email}
    )
    client = logged_in_with_password(staff.email)

    response = client.get(reverse("staff_first_factor_confirm", args=[token]))

    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert activate_totp(client)["Location"] == CONFIRM_PAGE


def test_a_forged_link_is_refused(staff):
    client = logged_in_with_password(staff.email)

    response = client.get(reverse("staff_first_factor_confirm", args=["not-signed"]))

    assert response.status_code == 400
    assert activate_totp(client)["Location"] == CONFIRM_PAGE


def test_drivers_set_up_a_second_factor_without_a_link(make_person):
    driver = make_person("driver@example.com")
    client = logged_in_with_password(driver.email)

    assert activate_totp(client).status_code == 302
    assert Authenticator.objects.filter(user=driver, type=Authenticator.Type.TOTP).exists()


def test_staff_with_a_factor_add_another_without_a_link(staff):
    client = logged_in_with_password(staff.email)
    client.get(first_factor.link_for(staff))
    activate_totp(client)

    response = client.get(reverse("mfa_add_webauthn"))
    assert response.status_code == 200
