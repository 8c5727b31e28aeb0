from collections.abc import Callable, Iterator
from itertools import count

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from tests.notifications.push_service import VAPID, PushService
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
def api(driver: User) -> Iterator[APIClient]:
    """The API as the driver, with fresh throttle counts (kept in the cache)."""
    cache.clear()
    client = APIClient()
    client.force_authenticate(driver)
    yield client
    cache.clear()


@pytest.fixture
def push_service() -> Iterator[PushService]:
    """A local push service, and this server's VAPID keys on (push_service.py)."""
    service = PushService().start()
    with override_settings(**VAPID):
        yield service
    service.stop()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    """A local integrator's endpoint (tests/notifications/webhook_receiver.py)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True  # the receiver is on this machine
    local = Receiver()
    yield local
    local.stop()
