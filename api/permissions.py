"""Who may use the staff endpoints."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request
from rest_framework.views import APIView

from users.admin_mfa import lacks_required_second_factor

SECOND_FACTOR_NEEDED = _(
    "Staff need a second factor (an authenticator app or a security key) to use the staff "
    "API, as for the admin: set one up at /accounts/2fa/."
)


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """Staff, with the model permission of what they ask for, as in admin.

    Reading needs the view permission too: DRF's default lets anyone with a login read,
    and a driver must never list other drivers' sessions or tokens.
    """

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        if lacks_required_second_factor(user):
            # A token does not stand in for the second factor: anyone with the
            # password alone could create one.
            self.message = SECOND_FACTOR_NEEDED
            return False
        return super().has_permission(request, view)


class CanSendCommands(permissions.BasePermission):
    """Commands change what a charger does: staff with the send_commands permission."""

    permission = "stations.send_commands"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        if lacks_required_second_factor(user):
            self.message = SECOND_FACTOR_NEEDED
            return False
        return user.has_perm(self.permission)


class CanStopSites(CanSendCommands):
    """An emergency stop or its release: staff with operations.stop_site, as in admin."""

    permission = "operations.stop_site"


class CanRepairTickets(CanSendCommands):
    """The remote repair sends commands: staff who may send them and see tickets, as in
    admin."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and request.user.has_perm(
            "operations.view_ticket"
        )


class CanCommentOnTickets(CanSendCommands):
    """Comments are ticket entries: staff who may add them (technicians), as in admin."""

    permission = "operations.add_ticketentry"
