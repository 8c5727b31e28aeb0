from django.apps import AppConfig


class ChargehubConfig(AppConfig):
    # The project package is an app only to carry management commands (serve, run_stack).
    name = "chargehub"
    verbose_name = "ChargeHub"
