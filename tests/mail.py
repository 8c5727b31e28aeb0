"""Email that a test server wrote to files (Django's file backend): the server is started
by tests/conftest.py's start_mail_server, its mail read here."""

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

# The file backend writes each message followed by a line of 79 dashes.
SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def mail_to_files(folder: Path) -> dict[str, str]:
    """A server's settings (environment) that write its email into `folder`."""
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(folder),
    }


def mails_to(folder: Path, address: str) -> list[EmailMessage]:
    """The messages to `address` in `folder`, in the order they were written."""
    found = []
    for path in sorted(folder.iterdir()):
        for chunk in path.read_bytes().split(SEPARATOR):
            if not chunk.strip():
                continue
            message = email.message_from_bytes(chunk.lstrip(), policy=email.policy.default)
            if message["To"] == address:
                found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    """The plain-text body, as the reader's mail app shows it."""
    return message.get_body(("plain",)).get_content()


def has_pdf(message: EmailMessage) -> bool:
    """Whether a PDF (receipt, invoice) is attached."""
    return any(part.get_content_type() == "application/pdf" for part in message.walk())
