"""Request rates per anonymous client (IP address) and per user.

DRF's throttles copy DEFAULT_THROTTLE_RATES into a class attribute when they are
imported, so a changed setting (an override in a test, a reloaded configuration) would
go unnoticed; these read the rates at request time instead.
"""

from rest_framework import throttling
from rest_framework.settings import api_settings


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserRateThrottle(throttling.UserRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
