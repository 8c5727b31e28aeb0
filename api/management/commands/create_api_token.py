"""`manage.py create_api_token EMAIL`: print the user's API token, made on first use."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print the API token of the user with this email address (made if missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace an existing token: apps using the old one lose access.",
        )

    def handle(self, *args: Any, email: str, rotate: bool, **options: Any) -> None:
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email address {email!r}.")
        if not user.is_active:
            raise CommandError(f"{user.email} is not active: a token would not work.")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _created = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
