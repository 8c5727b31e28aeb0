from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        # Listens to the saves and deletions of the models in AUDIT_MODELS
        # (audit/receivers.py); no other app imports this one.
        from audit import receivers

        receivers.connect()
