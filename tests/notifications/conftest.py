from collections.abc import Callable, Iterator
from itertools import count

import pytest

from tests.notifications.webhook_receiver import Receiver
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


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    """A local integrator's endpoint (tests/notifications/webhook_receiver.py)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver is on this machine
    local = Receiver()
    yield local
    local.server.shutdown()
    local.server.server_close()
