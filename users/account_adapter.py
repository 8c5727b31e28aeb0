"""django-allauth's adapter: its per-IP rate limits count the same client the API does,
and its security notices are written in the account's own language.

allauth emails the account's address when a second factor is added or removed, recovery
codes are made anew, the password is changed or reset, or an email address changes
(ACCOUNT_EMAIL_NOTIFICATIONS); it would render them in the language of the request, which
need not be the owner's.
"""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.utils import translation

from chargehub.client_address import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        # TRUSTED_PROXY_COUNT decides which address is the client's (chargehub/client_address.py).
        return client_ip(request)

    def send_notification_mail(
        self,
        template_prefix: str,
        user: AbstractBaseUser,
        context: dict[str, Any] | None = None,
        email: str | None = None,
    ) -> None:
        with translation.override(getattr(user, "language", None)):
            super().send_notification_mail(template_prefix, user, context, email)
