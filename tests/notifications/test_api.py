"""GET/PUT /api/v1/me/notifications/: the portal's notification settings, for apps."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from notifications import preferences
from notifications.models import Preferences
from users.models import User

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/notifications/"


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()  # throttle counts live in the cache
    yield
    cache.clear()


@pytest.fixture
def api(driver: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(driver)
    return client


def test_a_new_driver_gets_every_email(api):
    response = api.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "charging_finished": True,
        "receipts_by_email": True,
        "payment_problems": True,
        "charging_finished_in_portal": True,
        "quiet_start": None,
        "quiet_end": None,
    }


def test_put_saves_the_choices_and_payment_problems_stay_on(api, driver):
    response = api.put(
        URL,
        {"charging_finished": True, "receipts_by_email": False, "payment_problems": False},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["receipts_by_email"] is False
    assert response.json()["payment_problems"] is True
    assert not preferences.wants(driver, preferences.RECEIPTS)
    assert preferences.wants(driver, preferences.PAYMENT_PROBLEMS)


def test_put_with_a_missing_or_garbled_choice_is_refused(api):
    missing = api.put(URL, {"charging_finished": False}, format="json")
    garbled = api.put(URL, {"charging_finished": "maybe", "receipts_by_email": True}, format="json")
    assert missing.status_code == garbled.status_code == 400
    assert "receipts_by_email" in missing.json() or "receipts_by_email" in str(missing.json())
    assert "charging_finished" in str(garbled.json())
    assert not Preferences.objects.exists()


def test_anonymous_is_refused():
    assert APIClient().get(URL).status_code in (401, 403)
    assert APIClient().put(URL, {}, format="json").status_code in (401, 403)
