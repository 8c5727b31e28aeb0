"""Fleet's fixtures: where its files go, and a server that shares them with the test."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

# What the campaign's server and this process put in the URLs they give chargers.
PUBLIC_URL = "https://chargehub.test"
# The fleet server's upload limit (FLEET_UPLOAD_MAX_BYTES), small enough to pass in a test.
UPLOAD_LIMIT = 4096


@pytest.fixture(scope="session")
def fleet_files(tmp_path_factory: Any) -> Path:
    return tmp_path_factory.mktemp("fleet-files")


@pytest.fixture(autouse=True)
def fleet_settings(fleet_files: Path) -> Iterator[None]:
    """This process keeps its files where the fleet server does."""
    with override_settings(FLEET_FILES_DIR=fleet_files, FLEET_PUBLIC_URL=PUBLIC_URL):
        yield


@pytest.fixture(scope="session")
def fleet_server(start_server: Callable[..., str], fleet_files: Path) -> str:
    """A server whose uploads land in `fleet_files`; its WebSocket URL."""
    return start_server(
        FLEET_FILES_DIR=str(fleet_files),
        FLEET_PUBLIC_URL=PUBLIC_URL,
        FLEET_UPLOAD_MAX_BYTES=str(UPLOAD_LIMIT),
    )
