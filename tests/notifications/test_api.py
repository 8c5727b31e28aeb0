"""GET/PUT /api/v1/me/notifications/: the portal's notification settings, for apps."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from notifications import preferences
from notifications.models import Preferences

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/notifications/"
# The fields of the first version of this endpoint: a contract, kept as they were.
FIRST_FIELDS = (
    "charging_finished",
    "receipts_by_email",
    "payment_problems",
    "charging_finished_in_portal",
    "quiet_start",
    "quiet_end",
)


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()  # throttle counts live in the cache
    yield
    cache.clear()


def test_a_new_driver_gets_every_email(api):
    response = api.get(URL)
    assert response.status_code == 200
    first_fields = {name: response.json()[name] for name in FIRST_FIELDS}
    assert first_fields == {
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


def test_put_with_a_garbled_choice_is_refused_and_a_left_out_one_stays(api, driver):
    garbled = api.put(URL, {"charging_finished": "maybe", "receipts_by_email": True}, format="json")
    assert garbled.status_code == 400
    assert "charging_finished" in str(garbled.json())
    assert not Preferences.objects.exists()

    # Each field is one kind on one channel: what a PUT leaves out stays as it was.
    assert api.put(URL, {"charging_finished": False}, format="json").status_code == 200
    assert not preferences.wants(driver, preferences.CHARGING_FINISHED, "email")
    assert preferences.wants(driver, preferences.RECEIPTS, "email")


def test_anonymous_is_refused():
    assert APIClient().get(URL).status_code in (401, 403)
    assert APIClient().put(URL, {}, format="json").status_code in (401, 403)
