from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChargingConfig(AppConfig):
    """The driver's actions: start, stop, reserve. Below the portal and the API, which
    both call it; above billing, whose refusal and payment choice it asks first."""

    name = "charging"
    verbose_name = _("Driver actions")
