"""The server the browser tests talk to: `manage.py serve` with mail written to files."""

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connections


@pytest.fixture(scope="module")
def e2e_server(start_server, tmp_path_factory) -> tuple[str, Path]:
    """A server whose mail (the sign-up's verification link) lands in a folder.

    Returns its ws:// URL (for chargers; tests/e2e/browser.py's http_url gives the
    browser's) and the mail folder.
    """
    mail = tmp_path_factory.mktemp("e2e-mail")
    url = start_server(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail),
    )
    return url, mail


@pytest.fixture(autouse=True)
async def close_the_tests_database_connections():
    """The test's ORM calls (sync_to_async) run on one worker thread whose connection
    would stay open, and stop PostgreSQL from dropping the test database at the end."""
    yield
    await sync_to_async(connections.close_all)()
