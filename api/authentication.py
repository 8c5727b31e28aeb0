"""Token auth for apps and integrations: `Authorization: Token <key>`, as with DRF's own.

DRF's TokenAuthentication reads the header (and drf-spectacular describes it in the
schema); the key is checked against our hashed, expiring tokens (users/api_tokens.py).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from users import api_tokens
from users.models import ApiToken, User


class ApiTokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[User, ApiToken]:
        token = api_tokens.authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        return token.user, token
