"""API fixtures: clients logged in as drivers and staff, and a station to charge at."""

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from stations.models import Connector
from tests.billing.sessions import charging_site
from users.models import User


@pytest.fixture(autouse=True)
def fresh_throttles() -> Iterator[None]:
    """Throttle counts live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def other_driver(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    def login(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return login


@pytest.fixture
def as_driver(client_for: Callable[[User], APIClient], driver: User) -> APIClient:
    return client_for(driver)


@pytest.fixture
def connector(db: None) -> Connector:
    """A connector at a site with a tariff of 2 SEK per kWh net (25 % VAT)."""
    return charging_site("API Hamnen", price_per_kwh=Decimal(2))
