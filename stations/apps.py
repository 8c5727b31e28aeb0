from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = _("Stations")

    def ready(self) -> None:
        # Smart charging listens to the app's own events (stations/receivers.py).
        from stations import receivers  # noqa: F401
