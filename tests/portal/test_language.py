"""The portal speaks the driver's language: sign-ups are drivers, login switches to
User.language, and the language switch saves the choice (users/receivers.py,
users/language.py)."""

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.urls import reverse

from users.models import User
from users.roles import DRIVER

pytestmark = pytest.mark.django_db
PASSWORD = "a long enough pass phrase 42"


def verified(email: str, language: str) -> User:
    user = User.objects.create_user(email, PASSWORD, language=language)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def test_a_sign_up_joins_the_driver_group(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "ny@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(email="ny@example.com")
    assert list(user.groups.values_list("name", flat=True)) == [DRIVER.name]
    assert not user.is_staff


@pytest.mark.parametrize("page_language", ["en", "sv"])
def test_a_sign_up_keeps_the_language_of_the_pages(client, page_language):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = page_language
    client.post(
        reverse("account_signup"),
        {"email": "ny@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert User.objects.get(email="ny@example.com").language == page_language


def test_login_switches_the_portal_to_the_drivers_language(client):
    verified("svensk@example.com", "sv")
    response = client.post(
        reverse("account_login"), {"login": "svensk@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "sv"
    page = client.get(reverse("portal:stations"))
    assert page.headers["Content-Language"] == "sv"


def test_an_english_driver_gets_english_after_login_whatever_the_browser_had(client):
    verified("english@example.com", "en")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "sv"
    client.post(reverse("account_login"), {"login": "english@example.com", "password": PASSWORD})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert client.get(reverse("portal:stations")).headers["Content-Language"] == "en"


def test_the_language_switch_saves_a_logged_in_drivers_choice(client):
    driver = verified("switch@example.com", "sv")
    client.force_login(driver)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    driver.refresh_from_db()
    assert driver.language == "en"


def test_the_language_switch_ignores_an_unknown_language(client):
    driver = verified("unknown@example.com", "sv")
    client.force_login(driver)
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    driver.refresh_from_db()
    assert driver.language == "sv"


def test_the_language_switch_still_works_for_visitors(client):
    response = client.post(reverse("set_language"), {"language": "sv", "next": "/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "sv"
