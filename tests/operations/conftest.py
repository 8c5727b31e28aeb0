"""Operations fixtures: a server that writes its email to files, and technicians."""

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from itertools import count
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from operations.models import SiteTechnician
from stations.models import Site
from users.models import User
from users.roles import TECHNICIAN

SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # between messages in one file (filebased backend)
_numbers = count(1)


@pytest.fixture(scope="module")
def mail_server(start_server, tmp_path_factory) -> tuple[str, Path]:
    """A server that writes its email to files; returns its URL and mail folder."""
    mail = tmp_path_factory.mktemp("operations-mail")
    url = start_server(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(mail),
    )
    return url, mail


def mails_to(folder: Path, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(folder.iterdir()):
        for chunk in path.read_bytes().split(SEPARATOR):
            if not chunk.strip():
                continue
            message = email.message_from_bytes(chunk.lstrip(), policy=email.policy.default)
            if message["To"] == address:
                found.append(message)
    return found


def make_technician(site: Site | None = None, *, digest: bool = False, **fields) -> User:
    """Active staff in the technician role, covering `site` if given."""
    fields = {"is_staff": True, "language": "en", **fields}
    user = User.objects.create_user(f"tech{next(_numbers)}@example.com", "pw", **fields)
    user.groups.add(Group.objects.get_or_create(name=TECHNICIAN.name)[0])
    if site is not None:
        SiteTechnician.objects.create(site=site, user=user, digest=digest)
    return user


@pytest.fixture
def technician_at() -> Callable[..., User]:
    return make_technician
