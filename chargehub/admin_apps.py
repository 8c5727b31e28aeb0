"""django.contrib.admin, with the project's site (chargehub/admin_site.py).

A module of its own: an apps module that imported AdminConfig would declare two default
app configs."""

from django.contrib.admin.apps import AdminConfig


class ChargeHubAdminConfig(AdminConfig):
    default_site = "chargehub.admin_site.ChargeHubAdminSite"
