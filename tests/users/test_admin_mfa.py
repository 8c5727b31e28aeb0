"""Staff need a second factor for the admin (ADMIN_REQUIRE_MFA, users/admin_mfa.py)."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.urls import reverse

from tests.users.conftest import PASSWORD, totp_code
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def mfa_required(settings) -> None:
    settings.ADMIN_REQUIRE_MFA = True


@pytest.fixture
def staff(make_person):
    return make_person("staff@example.com", is_staff=True, is_superuser=True)


def browser_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_totp(user) -> str:
    """Give the user an authenticator app, as /accounts/2fa/totp/activate/ does."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def test_staff_without_a_second_factor_are_sent_to_set_one_up(mfa_required, staff):
    client = browser_of(staff)
    for page in [reverse("admin:index"), reverse("admin:stations_chargepoint_changelist")]:
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_index")
    setup = client.get(reverse("mfa_index"))
    assert setup.status_code == 200
    assert "Staff need a second factor" in setup.content.decode()


def test_recovery_codes_alone_are_not_a_second_factor(mfa_required, staff):
    Authenticator.objects.create(
        user=staff, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "x"}
    )
    assert browser_of(staff).get(reverse("admin:index"))["Location"] == reverse("mfa_index")


def test_staff_with_an_authenticator_app_reach_the_admin(mfa_required, staff):
    with_totp(staff)
    assert browser_of(staff).get(reverse("admin:index")).status_code == 200


def test_with_the_setting_off_a_password_is_enough(settings, staff):
    settings.ADMIN_REQUIRE_MFA = False
    assert browser_of(staff).get(reverse("admin:index")).status_code == 200
    # …and the admin's own login page is used.
    assert Client().get(reverse("admin:login")).status_code == 200


def test_other_pages_are_not_affected(mfa_required, staff):
    assert browser_of(staff).get(reverse("health")).status_code == 200


def test_the_admin_login_goes_through_allauth(mfa_required, db):
    response = Client().get(reverse("admin:login"), {"next": "/admin/billing/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + "?next=%2Fadmin%2Fbilling%2F"


def test_staff_log_in_with_password_and_code_then_reach_the_admin(mfa_required, staff, settings):
    settings.MFA_TOTP_TOLERANCE = 1
    secret = with_totp(staff)
    client = Client()
    login_page = client.get(reverse("admin:index"), follow=True)
    assert login_page.request["PATH_INFO"] == reverse("account_login")

    response = client.post(
        reverse("account_login") + "?next=/admin/",
        {"login": staff.email, "password": PASSWORD, "next": "/admin/"},
    )
    assert response["Location"].startswith(reverse("mfa_authenticate"))
    assert client.get(reverse("admin:index")).status_code == 302  # not yet

    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response["Location"] == "/admin/"
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_superuser_from_createsuperuser_confirms_their_address_at_the_first_login(
    mfa_required, db, mailoutbox
):
    # createsuperuser makes no allauth EmailAddress: the address is confirmed by mail once.
    admin = User.objects.create_superuser("root@example.com", PASSWORD)
    client = Client()
    response = client.post(reverse("account_login"), {"login": admin.email, "password": PASSWORD})
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session
    assert mailoutbox[0].to == [admin.email]
    assert "/accounts/confirm-email/" in mailoutbox[0].body


def test_staff_without_a_second_factor_can_still_log_out_of_the_admin(mfa_required, staff):
    client = browser_of(staff)
    response = client.post(reverse("admin:logout"))
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_staff_rules_hold_under_asgi_too(mfa_required, staff):
    # `manage.py serve` runs the middleware's async branch (users/middleware.py).
    client = AsyncClient()
    client.force_login(staff)
    admin = async_to_sync(client.get)(reverse("admin:index"))
    add_factor = async_to_sync(client.get)(reverse("mfa_activate_totp"))
    elsewhere = async_to_sync(client.get)(reverse("mfa_index"))
    assert (admin.status_code, admin["Location"]) == (302, reverse("mfa_index"))
    assert (add_factor.status_code, add_factor["Location"]) == (302, reverse("staff_first_factor"))
    assert elsewhere.status_code == 200
