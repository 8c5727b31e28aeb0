"""Demo data for `make run`: a site in Stockholm, three chargers, RFID cards, an admin.

    DEBUG=1 python manage.py load_demo
    DEBUG=1 python manage.py load_demo --history   # and months of generated history

Idempotent: what exists is left as it is, so running it twice changes nothing. It
refuses to run without DEBUG, because it creates a superuser with a published password.
"""

from datetime import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from stations.models import ChargePoint, Connector, OpeningHours, Site
from users.models import IdToken, User

# Published on purpose (README, the command's output): demo credentials only.
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_PASSWORD = "chargehub-demo-admin"
# A charger password is an AuthorizationKey of at least 16 characters
# (stations/charger_auth.py); the simulated chargers of `make run` connect with it.
DEMO_CHARGER_PASSWORD = "chargehub-demo-charger"
DEMO_CHARGER_PREFIX = "DEMO-"
DEMO_CHARGER_COUNT = 3

DEMO_SITE = {
    "name": "ChargeHub Demo, Stockholm",
    "address": "Drottninggatan 1",
    "postal_code": "111 51",
    "city": "Stockholm",
    "country": "SE",
    "latitude": Decimal("59.329300"),
    "longitude": Decimal("18.068600"),
    "time_zone": "Europe/Stockholm",
    "grid_capacity_kw": Decimal("400"),
    # Limited hours (behind a garage door), so that the portal shows a week of them.
    "open_24_7": False,
}
# (ISO weekday, opens, closes) in the site's time zone: weekdays 06-22, weekends 08-20.
DEMO_OPENING_HOURS = [
    *((day, time(6), time(22)) for day in range(1, 6)),
    *((day, time(8), time(20)) for day in (6, 7)),
]
# (connector id, type, max power): an AC and a DC connector on every demo charger.
DEMO_CONNECTORS = [
    (1, Connector.Type.TYPE2, Decimal("22")),
    (2, Connector.Type.CCS2, Decimal("150")),
]
DEMO_ID_TOKENS = [
    ("DEMO-RFID-0001", "Demo card: Alva"),
    ("DEMO-RFID-0002", "Demo card: Omar"),
    ("DEMO-RFID-0003", "Demo card: fleet van"),
]


def demo_charge_point_ids(count: int = DEMO_CHARGER_COUNT) -> list[str]:
    return [f"{DEMO_CHARGER_PREFIX}{number:03d}" for number in range(1, count + 1)]


class Command(BaseCommand):
    help = _("Load demo data (a site, three chargers, RFID cards, an admin). DEBUG only.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--history",
            action="store_true",
            help=_(
                "Also generate months of charging history at sites of their own, for the "
                "insights dashboards (once; a second run leaves it as it is)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                _(
                    "load_demo creates an admin with a published password, so it only runs "
                    "with DEBUG=1 (development and demos)."
                )
            )
        with transaction.atomic():
            notes = self._load()
        self._report(notes)
        if options["history"]:
            # Made by the app that reads it (settings.DEMO_HISTORY_LOADER): stations
            # never imports insights.
            self.stdout.write(import_string(settings.DEMO_HISTORY_LOADER)())

    def _load(self) -> list[str]:
        notes: list[str] = []
        site, created = Site.objects.get_or_create(name=DEMO_SITE["name"], defaults=DEMO_SITE)
        if created:  # an existing site keeps the hours staff gave it
            OpeningHours.objects.bulk_create(
                OpeningHours(site=site, weekday=day, opens=opens, closes=closes)
                for day, opens, closes in DEMO_OPENING_HOURS
            )

        for charge_point_id in demo_charge_point_ids():
            charge_point, created = ChargePoint.objects.get_or_create(
                charge_point_id=charge_point_id,
                defaults={"site": site, "vendor": "ChargeHub", "model": "Demo"},
            )
            # A new salt on every run would change the row: set it only when it is not
            # the demo password (new, or changed since).
            if not charge_point.check_password(DEMO_CHARGER_PASSWORD):
                charge_point.set_password(DEMO_CHARGER_PASSWORD)
                charge_point.save(update_fields=["password_hash"])
                if not created:
                    notes.append(
                        _("%(id)s: password reset to the demo password.") % {"id": charge_point_id}
                    )
            for connector_id, connector_type, max_power_kw in DEMO_CONNECTORS:
                Connector.objects.get_or_create(
                    charge_point=charge_point,
                    connector_id=connector_id,
                    defaults={"connector_type": connector_type, "max_power_kw": max_power_kw},
                )

        for uid, name in DEMO_ID_TOKENS:
            IdToken.objects.get_or_create(
                uid=uid, defaults={"name": name, "type": IdToken.Type.RFID}
            )

        admin = User.objects.filter(email=DEMO_ADMIN_EMAIL).first()
        if admin is None:
            User.objects.create_superuser(DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, language="en")
        elif not admin.check_password(DEMO_ADMIN_PASSWORD):
            # Someone chose another password: theirs stays.
            notes.append(
                _("%(email)s exists with another password; it was left as it is.")
                % {"email": DEMO_ADMIN_EMAIL}
            )
        return notes

    def _report(self, notes: list[str]) -> None:
        self.stdout.write(self.style.SUCCESS(_("Demo data is in place.")))
        self.stdout.write(
            _("Admin login: %(email)s / %(password)s")
            % {"email": DEMO_ADMIN_EMAIL, "password": DEMO_ADMIN_PASSWORD}
        )
        self.stdout.write(
            _("Chargers (Basic auth password %(password)s): %(ids)s")
            % {"password": DEMO_CHARGER_PASSWORD, "ids": ", ".join(demo_charge_point_ids())}
        )
        self.stdout.write(
            _("RFID cards: %(uids)s") % {"uids": ", ".join(uid for uid, _name in DEMO_ID_TOKENS)}
        )
        for note in notes:
            self.stdout.write(self.style.WARNING(note))
