from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        # Connects the receivers of Stripe events (dj-stripe signals) and of the
        # domain events of stations.
        from billing import receivers, webhooks  # noqa: F401
