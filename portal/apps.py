from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Driver portal")

    def ready(self) -> None:
        # The live-update receivers (stations/live.py, and the session figures of
        # portal/receivers.py) must be connected in every process that emits domain
        # events, not only where the WebSocket routing loads.
        from portal import receivers  # noqa: F401
        from stations import live  # noqa: F401
