"""Register a charger (or update one) so that it may connect, and say how to set it up.

python manage.py register_charger CP-1 --site "Depot North" [--create-site]
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from stations import operations
from stations.models import Site


class Command(BaseCommand):
    help = _(
        "Create or update an accepted charge point. Without --password a new charger gets a "
        "generated password; an existing one keeps its password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("charge_point_id", help=_("The identity the charger connects with."))
        parser.add_argument("--password", help=_("HTTP Basic auth password (AuthorizationKey)."))
        parser.add_argument("--site", help=_("Name of an existing site."))
        parser.add_argument(
            "--create-site",
            action="store_true",
            help=_("Create the site named by --site when there is none."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            charge_point, generated = operations.register_charge_point(
                options["charge_point_id"],
                options["password"],
                options["site"],
                create_site=options["create_site"],
            )
        except operations.UnknownSite as error:
            sites = ", ".join(Site.objects.values_list("name", flat=True)[:20]) or _("none yet")
            raise CommandError(
                _("%(error)s Existing sites: %(sites)s. Add --create-site to create it.")
                % {"error": error, "sites": sites}
            ) from None
        except ValueError as error:
            raise CommandError(str(error)) from None

        self.stdout.write(_("Charge point: %(id)s") % {"id": charge_point.charge_point_id})
        if charge_point.site:
            self.stdout.write(_("Site: %(site)s") % {"site": charge_point.site.name})
        if generated:
            self.stdout.write(_("Password: %(password)s") % {"password": generated})
            self.stdout.write(_("Store it now: it is kept only as a hash."))
        elif options["password"]:
            self.stdout.write(_("Password: as given"))
        else:
            self.stdout.write(_("Password: unchanged"))
        # OCPP-J 1.6 §3.1.1: the charger appends its identity to the central system URL.
        self.stdout.write(
            _("URL path: /ocpp/%(id)s  (e.g. wss://<this server>/ocpp/%(id)s)")
            % {"id": charge_point.charge_point_id}
        )
        self.stdout.write(
            _("Basic auth user: %(id)s (OCPP security profile 1/2)")
            % {"id": charge_point.charge_point_id}
        )
