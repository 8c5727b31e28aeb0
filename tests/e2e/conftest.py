"""The browser tests' setup: each is marked `e2e` and skipped without Chromium, and the
server they talk to is `manage.py serve` with mail written to files."""

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from tests.e2e.browser import CHROMIUM, MISSING_CHROMIUM

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m "not e2e"` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=MISSING_CHROMIUM))


@pytest.fixture(scope="module")
def e2e_server(start_mail_server) -> tuple[str, Path]:
    """A server whose mail (the sign-up's verification link) lands in a folder.

    Returns its ws:// URL (for chargers; tests/e2e/browser.py's http_url gives the
    browser's) and the mail folder.
    """
    return start_mail_server()


@pytest.fixture(autouse=True)
async def close_the_tests_database_connections():
    """The test's ORM calls (sync_to_async) run on one worker thread whose connection
    would stay open, and stop PostgreSQL from dropping the test database at the end."""
    yield
    await sync_to_async(connections.close_all)()
