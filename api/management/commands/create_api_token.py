"""`manage.py create_api_token EMAIL`: make the user's API token and print its key, once.

Tokens are stored hashed (users/api_tokens.py): an existing one cannot be printed again,
so the command refuses unless `--rotate` replaces it.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from users import api_tokens
from users.models import ApiToken


class Command(BaseCommand):
    help = (
        "Make an API token for the user with this email address and print its key (shown "
        "only now: it is stored hashed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace an existing token: apps using the old one lose access.",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=settings.API_TOKEN_DAYS,
            help="Days the token lasts; 0 until revoked (default: API_TOKEN_DAYS, %(default)s).",
        )

    def handle(self, *args: Any, email: str, rotate: bool, days: int, **options: Any) -> None:
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email address {email!r}.")
        if not user.is_active:
            raise CommandError(f"{user.email} is not active: a token would not work.")
        if days < 0:
            raise CommandError("--days must be 0 (until revoked) or more.")
        existing = ApiToken.objects.filter(user=user).first()
        if existing is not None and not rotate:
            raise CommandError(
                f"{user.email} already has an API token ({existing.prefix}…, created "
                f"{existing.created_at:%Y-%m-%d %H:%M} UTC). It is stored hashed and cannot be "
                "shown again: --rotate replaces it."
            )
        _token, key = api_tokens.issue(user, days)
        self.stdout.write(key)
