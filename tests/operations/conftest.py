"""Operations fixtures."""

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def mail_server(start_mail_server: Callable[..., tuple[str, Path]]) -> tuple[str, Path]:
    """A server that writes its email to files (tests/mail.py reads them)."""
    return start_mail_server()
