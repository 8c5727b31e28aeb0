from collections.abc import Callable
from itertools import count

import pytest

from users.models import User

_numbers = count(1)


@pytest.fixture
def driver_language() -> str:
    """These tests read the driver's emails and pages in English; make_swedish is the other."""
    return "en"


@pytest.fixture
def make_swedish(db: None) -> Callable[[], User]:
    def make() -> User:
        return User.objects.create_user(f"svensk{next(_numbers)}@example.com", "pw", language="sv")

    return make
