"""API fixtures: clients logged in as drivers and staff, and a station to charge at."""

from collections.abc import Callable, Iterator
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from stations.models import Connector
from tests.billing.sessions import charging_site
from users.models import User

_numbers = count(1)


@pytest.fixture(autouse=True)
def fresh_throttles() -> Iterator[None]:
    """Throttle counts live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(*permissions: str, **fields: Any) -> User:
        email = fields.pop("email", None) or f"api-user{next(_numbers)}@example.com"
        user = User.objects.create_user(email, "pw", **fields)
        for perm in permissions:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


@pytest.fixture
def driver(make_user: Callable[..., User]) -> User:
    return make_user()


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
