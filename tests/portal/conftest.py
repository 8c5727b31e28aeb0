"""Portal fixtures: drivers and their logged-in browsers."""

from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from django.test import Client

from users.models import User

_numbers = count(1)


@pytest.fixture
def make_driver(db: None) -> Callable[..., User]:
    def make(**fields: Any) -> User:
        email = fields.pop("email", None) or f"portal{next(_numbers)}@example.com"
        return User.objects.create_user(email, "pw", **fields)

    return make


@pytest.fixture
def driver(make_driver: Callable[..., User]) -> User:
    return make_driver()


@pytest.fixture
def driver_client(driver: User) -> Client:
    client = Client()
    client.force_login(driver)
    return client
