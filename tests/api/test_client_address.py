"""Per-client limits count the client, not what it writes into X-Forwarded-For
(TRUSTED_PROXY_COUNT, chargehub/client_address.py): the API's anonymous throttle and
django-allauth's login rate limits."""

import pytest
from allauth.account.adapter import get_adapter
from django.test import RequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "3/minute", "user": "5/minute"},
    }


def test_a_new_x_forwarded_for_on_each_request_does_not_escape_the_anonymous_throttle(
    anonymous, three_a_minute
):
    codes = [
        anonymous.get("/api/v1/stations/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(4)
    ]

    assert codes == [200, 200, 200, 429]


def test_behind_one_trusted_proxy_the_right_most_forwarded_address_is_the_client(
    anonymous, three_a_minute, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy (REMOTE_ADDR) appends the address it was reached from; whatever the client
    # wrote itself comes before.
    codes = [
        anonymous.get(
            "/api/v1/stations/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7"
        ).status_code
        for n in range(4)
    ]
    another_client = anonymous.get("/api/v1/stations/", HTTP_X_FORWARDED_FOR="203.0.113.8")

    assert codes == [200, 200, 200, 429]
    assert another_client.status_code == 200


def test_login_rate_limits_ignore_x_forwarded_for_without_a_trusted_proxy():
    request = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.1"
    )

    assert get_adapter(request).get_client_ip(request) == "192.0.2.1"


def test_login_rate_limits_count_the_client_the_trusted_proxies_saw(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().post(
        "/accounts/login/",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7, 10.0.0.1",
    )

    assert get_adapter(request).get_client_ip(request) == "203.0.113.7"


def test_fewer_forwarded_addresses_than_trusted_proxies_is_no_error(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().post(
        "/accounts/login/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7"
    )

    assert get_adapter(request).get_client_ip(request) == "203.0.113.7"
