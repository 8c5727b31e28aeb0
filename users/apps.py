from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = _("Users and tokens")

    def ready(self) -> None:
        # Connects the receivers of allauth's sign-up and login signals.
        from users import receivers  # noqa: F401
