import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import reverse

from tests.portal.places import place

pytestmark = pytest.mark.django_db

PRIVATE_PAGES = [
    ("portal:charging", []),
    ("portal:account", []),
    ("portal:sessions-csv", []),
    ("portal:session", [1]),
    ("portal:session-figures", [1]),
]


@pytest.mark.parametrize(("name", "args"), PRIVATE_PAGES)
def test_private_pages_send_anonymous_visitors_to_log_in(client, name, args):
    url = reverse(name, args=args)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?")
    assert "next=" in response["Location"]


@pytest.mark.parametrize(
    ("name", "args"),
    [("portal:start", []), ("portal:stop", [1]), ("portal:token-block", [1])],
)
def test_private_actions_send_anonymous_visitors_to_log_in(client, name, args):
    response = client.post(reverse(name, args=args))
    assert response.status_code == 302
    assert "next=" in response["Location"]


def test_layout_has_navigation_language_switch_and_english_by_default(client):
    page = client.get("/").content.decode()
    assert '<html lang="en">' in page
    assert "Find a charger" in page and "My charging" in page and "My account" in page
    assert reverse("set_language") in page
    assert "Log in" in page


def test_switching_to_swedish_renders_the_portal_in_swedish(client):
    place("Svenska", connectors=(("Type2", "22", "Available"),))
    response = client.post(reverse("set_language"), {"language": "sv", "next": "/stations/"})
    assert response.status_code == 302
    assert response["Location"] == "/stations/"
    page = client.get("/stations/").content.decode()
    assert '<html lang="sv">' in page
    assert 'value="sv" lang="sv" selected' in page
    # Strings already translated (connector status and type) come out in Swedish.
    assert "Ledig" in page and "Typ 2" in page
    assert ">Available<" not in page


def test_logged_in_driver_sees_their_navigation_not_log_in(driver_client):
    page = driver_client.get("/").content.decode()
    assert ">Log in<" not in page
