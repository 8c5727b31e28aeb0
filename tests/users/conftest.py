"""Accounts fixtures: people who can log in with allauth, and a clean cache per test.

allauth counts failed logins and used TOTP codes in the cache; a test must not inherit
another's attempts.
"""

import base64
import hashlib
import hmac
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache

from users.models import User

PASSWORD = "a-long-enough-password-1"


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_person(db: None) -> Callable[..., User]:
    """A user whose email address is confirmed, as after sign-up and verification."""

    def make(email: str = "driver@example.com", **fields: Any) -> User:
        user = User.objects.create_user(email, PASSWORD, **fields)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    return make


def totp_code(secret: str, at: float | None = None) -> str:
    """The code an authenticator app shows for a base32 secret (RFC 6238: HMAC-SHA1,
    30 s steps, 6 digits; RFC 4226 §5.3 for the truncation)."""
    counter = int((time.time() if at is None else at) // 30)
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"
