"""Staff roles: one Django group per role, its permissions defined here and nowhere else.

`manage.py setup_roles` makes the groups match these definitions (idempotent: run it
after every deploy). A role is granted by adding a user to its group; the user needs
`is_staff` as well to reach the admin. Permissions added to a role's group by hand are
removed by the next run: change them here.

Which permission each sensitive admin page checks:
- sending commands to chargers (reset, remote start/stop, unlock, configuration, …):
  `stations.send_commands` (stations/admin.py);
- crediting an invoice or receipt (credit note, then refund): `billing.add_invoice`;
- crediting a wallet by hand: `billing.add_walletentry`;
- emailing a document again: `billing.view_invoice`;
- answering a driver's support case: `operations.add_supportmessage`; refunding a
  payment case from it: `billing.add_invoice`, as any credit note;
- stopping and releasing a site in an emergency: `operations.stop_site`
  (operations/emergency_admin.py, the API's sites/{id}/emergency-stop/);
- tickets: changing state, assignee and severity `operations.change_ticket`, commenting
  `operations.add_ticketentry` (operations/admin.py, api/views/tickets.py);
- the audit records (audit/), in admin and the API, and their CSV:
  `audit.view_auditrecord`, which only the operator admin role has;
- insights' decisions (insights/decisions_admin.py): the maintenance ranking
  `insights.view_chargerrisk` and its "create inspection ticket" `insights.open_inspection`
  (technicians); the demand forecast `insights.view_siteforecast`, site planning
  `insights.view_candidatelocation` (operator admin).
"""

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Role:
    name: str  # the group's name: stable, since code and people look groups up by it
    description: Promise
    # Patterns over "app_label.codename", shell-style: "billing.view_*" is every view
    # permission of billing. Each pattern must match at least one permission, so that
    # a typo or a renamed model is noticed when the roles are set up.
    grants: tuple[str, ...]


# Looking at what chargers do and did, without changing anything.
VIEW_STATIONS = ("stations.view_*",)

OPERATOR_ADMIN = Role(
    "Operator admin",
    _("Everything in the back office, including users and roles."),
    ("*.*",),
)
TECHNICIAN = Role(
    "Technician",
    _("Chargers: edit charge points and connectors, send commands (reset, remote start…)."),
    (
        *VIEW_STATIONS,
        "stations.change_chargepoint",
        "stations.change_connector",
        "stations.send_commands",
        # A remote start needs an id tag; a technician looks it up, never edits it.
        "users.view_idtoken",
        # Uptime: the report, and marking outages excluded (grid outage, vandalism, …).
        "operations.view_uptimemonth",
        "operations.view_outageexclusion",
        "operations.add_outageexclusion",
        "operations.change_outageexclusion",
        # Maintenance windows, inspection schedules (completing an inspection resolves
        # its ticket: operations.change_ticket).
        "operations.*_maintenancewindow",
        "operations.*_inspectionschedule",
        # Emergency stop and release of a site, and its audit (operations/emergency.py).
        "operations.stop_site",
        "operations.view_emergencystop",
        # Tickets (operations/tickets.py): work them (state, assignee, severity), comment,
        # see who covers which site.
        "operations.view_ticket",
        "operations.change_ticket",
        "operations.view_ticketentry",
        "operations.add_ticketentry",
        "operations.view_sitetechnician",
        # Insights (insights/views.py): how the chargers are used.
        "insights.view_utilisation",
        # Predictive maintenance (insights/maintenance.py): the ranking, and opening an
        # inspection ticket from it.
        "insights.view_chargerrisk",
        "insights.open_inspection",
    ),
)
SUPPORT = Role(
    "Support",
    _(
        "Helps drivers: answers their support cases, looks at chargers, sessions and billing, "
        "manages RFID cards, emails documents again; no refunds, no commands."
    ),
    (
        *VIEW_STATIONS,
        "users.view_user",
        "users.view_idtoken",
        "users.change_idtoken",
        # Viewing invoices is also what "email again" needs (billing/admin.py).
        "billing.view_*",
        # Driver support (operations/support.py): read and answer cases, close them.
        "operations.view_supportcase",
        "operations.change_supportcase",
        "operations.view_supportmessage",
        "operations.add_supportmessage",
        "operations.view_ticket",
        "operations.view_ticketentry",
    ),
)
FINANCE = Role(
    "Finance",
    _(
        "Billing: sees everything, issues credit notes and refunds, credits wallets; no "
        "commands to chargers."
    ),
    (
        *VIEW_STATIONS,
        "users.view_user",
        "users.view_idtoken",
        "billing.view_*",
        "billing.add_invoice",  # credit notes, and the refund that follows them
        "billing.add_walletentry",  # manual wallet credits
        "billing.change_billingaccount",  # how an account pays, its invoice address
        "operations.view_uptimemonth",  # uptime reports (grant conditions)
        # A payment case's refund is an action on the support case (operations/admin.py).
        "operations.view_supportcase",
        "operations.view_supportmessage",
        # Insights: revenue, drivers, and the use of the network it earns from.
        "insights.view_revenue",
        "insights.view_drivers",
        "insights.view_utilisation",
    ),
)
# Drivers use the portal, never the admin: the group grants nothing and marks them.
DRIVER = Role("Driver", _("Uses the portal; no access to the back office."), ())

ROLES: tuple[Role, ...] = (OPERATOR_ADMIN, TECHNICIAN, SUPPORT, FINANCE, DRIVER)


class UnknownPermission(LookupError):
    """A role grants a pattern that matches no permission."""


def permissions_for(role: Role, available: list[Permission]) -> list[Permission]:
    granted: list[Permission] = []
    for pattern in role.grants:
        matched = [
            permission
            for permission in available
            if fnmatchcase(f"{permission.content_type.app_label}.{permission.codename}", pattern)
        ]
        if not matched:
            raise UnknownPermission(f"{role.name}: {pattern!r} matches no permission")
        granted.extend(matched)
    return granted


@transaction.atomic
def set_up_roles() -> dict[str, int]:
    """Create or update each role's group to hold exactly its permissions.

    Returns the number of permissions of each role.
    """
    available = list(Permission.objects.select_related("content_type"))
    counts: dict[str, int] = {}
    for role in ROLES:
        permissions = permissions_for(role, available)
        group, _created = Group.objects.get_or_create(name=role.name)
        group.permissions.set(permissions)
        counts[role.name] = len(set(permissions))
    return counts
