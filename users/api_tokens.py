"""API tokens: made with the key shown once, stored hashed, expiring, use recorded.

Our own small model (users.models.ApiToken) rather than DRF's authtoken (plaintext keys)
or django-rest-knox: knox would add a dependency whose tokens record no last use and
whose many-tokens-per-login model is not the one token per account that the portal, the
admin and `manage.py create_api_token` manage. Keys are 160 random bits, so one SHA-256
is enough to store them (a slow password hasher would only slow every API request).
Clients keep sending `Authorization: Token <key>` (api/authentication.py).

A changed password and a deactivated account revoke the account's token (User.save).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from users.models import ApiToken, User

# Writing last_used_at on every request would make each API call a write.
LAST_USE_PRECISION = timedelta(minutes=1)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def lifetime_choices() -> list[int]:
    """Days a new token may last (0: until revoked), the setting's default first."""
    days = [settings.API_TOKEN_DAYS, 30, 90, 365, 0]
    return list(dict.fromkeys(days))


def issue(user: User, days: int | None = None) -> tuple[ApiToken, str]:
    """Replace the user's token with a new one; return it and its key, which is not kept.

    `days`: how long it lasts, 0 for until revoked; None takes API_TOKEN_DAYS.
    """
    days = settings.API_TOKEN_DAYS if days is None else days
    key = secrets.token_hex(20)
    now = timezone.now()
    with transaction.atomic():
        ApiToken.objects.filter(user=user).delete()
        token = ApiToken.objects.create(
            user=user,
            prefix=key[:8],
            digest=digest(key),
            created_at=now,
            expires_at=now + timedelta(days=days) if days else None,
        )
    return token, key


def authenticate(key: str) -> ApiToken | None:
    """The live token with this key, its use recorded; None for an unknown, expired or
    inactive one."""
    token = ApiToken.objects.select_related("user").filter(digest=digest(key)).first()
    if token is None or token.is_expired() or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
