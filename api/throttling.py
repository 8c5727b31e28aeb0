"""Request rates per anonymous client (IP address) and per user.

DRF's throttles copy DEFAULT_THROTTLE_RATES into a class attribute when they are
imported, so a changed setting (an override in a test, a reloaded configuration) would
go unnoticed; these read the rates at request time instead. The client's address is
chargehub/client_address.py's (TRUSTED_PROXY_COUNT): DRF's own would believe any
X-Forwarded-For, and a new one on each request would never be throttled.
"""

from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from chargehub.client_address import client_ip


class _ReadAtRequestTime(throttling.SimpleRateThrottle):
    """The rate from the settings as they are now; the client as client_address sees it."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request: Request) -> str:
        return client_ip(request)


class AnonRateThrottle(_ReadAtRequestTime, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(_ReadAtRequestTime, throttling.UserRateThrottle):
    pass
