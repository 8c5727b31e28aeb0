"""django-allauth's adapter: its per-IP rate limits count the same client the API does."""

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from chargehub.client_address import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        # TRUSTED_PROXY_COUNT decides which address is the client's (chargehub/client_address.py).
        return client_ip(request)
