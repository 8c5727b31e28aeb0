from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = _("Operations")

    def ready(self) -> None:
        # Connects the receivers of the domain events of stations, and the dashboard's
        # live updates (operations/live.py).
        from operations import live, receivers  # noqa: F401
