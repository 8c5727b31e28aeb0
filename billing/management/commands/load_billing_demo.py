"""Demo billing for `make run`, on top of `load_demo`: a tariff on the demo site, and
drivers who own the demo RFID cards and pay three ways.

    DEBUG=1 python manage.py load_billing_demo

- DEMO-RFID-0001, Alva: prepaid wallet with 500 SEK (credited by the demo admin).
- DEMO-RFID-0002, Omar: monthly invoice.
- DEMO-RFID-0003, the fleet van: billed to the fleet "Demo Taxi AB", monthly invoice.

Idempotent, and DEBUG only, like load_demo (which must have run first).
"""

from datetime import time
from decimal import Decimal
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from billing import wallet
from billing.models import (
    BillingAccount,
    CustomerGroup,
    Tariff,
    TariffAssignment,
    TimeOfUsePeriod,
)
from stations.management.commands.load_demo import DEMO_ADMIN_EMAIL, DEMO_SITE
from stations.models import Site
from users.models import IdToken, User

DEMO_TARIFF = {
    "price_per_kwh": Decimal("3.20"),
    "session_fee": Decimal("0"),
    "idle_fee_per_minute": Decimal("1.00"),
    "idle_grace_minutes": 30,
}
DEMO_WALLET_CREDIT = Decimal(500)
# Published on purpose, like load_demo's admin password: the demo drivers log in to
# the portal with it (their addresses count as confirmed).
DEMO_DRIVER_PASSWORD = "chargehub-demo-driver"
DEMO_FLEET = "Demo Taxi AB"
# (card, driver email, first name, payment method, in the fleet)
DEMO_DRIVERS = [
    ("DEMO-RFID-0001", "alva@example.com", "Alva", BillingAccount.PaymentMethod.WALLET, False),
    ("DEMO-RFID-0002", "omar@example.com", "Omar", BillingAccount.PaymentMethod.INVOICE, False),
    ("DEMO-RFID-0003", "van@example.com", "Fleet van", BillingAccount.PaymentMethod.INVOICE, True),
]


class Command(BaseCommand):
    help = _("Load demo billing data (a tariff, drivers paying three ways). DEBUG only.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(_("load_billing_demo only runs with DEBUG=1, like load_demo."))
        site = Site.objects.filter(name=DEMO_SITE["name"]).first()
        admin = User.objects.filter(email=DEMO_ADMIN_EMAIL).first()
        if site is None or admin is None:
            raise CommandError(_("Run `manage.py load_demo` first."))
        with transaction.atomic():
            self._load(site, admin)
        self.stdout.write(self.style.SUCCESS(_("Demo billing data is in place.")))
        self.stdout.write(
            _("Portal drivers: %(emails)s, password %(password)s")
            % {
                "emails": ", ".join(email for _uid, email, *_rest in DEMO_DRIVERS),
                "password": DEMO_DRIVER_PASSWORD,
            }
        )

    def _load(self, site: Site, admin: User) -> None:
        tariff, created = Tariff.objects.get_or_create(name="Demo standard", defaults=DEMO_TARIFF)
        if created:
            TimeOfUsePeriod.objects.create(
                tariff=tariff,
                name=_("Night"),
                start_time=time(22),
                end_time=time(6),
                price_per_kwh=Decimal("2.40"),
            )
        TariffAssignment.objects.get_or_create(tariff=tariff, site=site)
        fleet, _created = CustomerGroup.objects.get_or_create(
            name=DEMO_FLEET, defaults={"kind": CustomerGroup.Kind.FLEET}
        )
        BillingAccount.objects.get_or_create(
            fleet=fleet,
            defaults={
                "payment_method": BillingAccount.PaymentMethod.INVOICE,
                "name": DEMO_FLEET,
                "email": "invoices@demotaxi.example",
                "org_number": "556677-8899",
            },
        )
        for uid, email, first_name, method, in_fleet in DEMO_DRIVERS:
            driver, _created = User.objects.get_or_create(
                email=email, defaults={"first_name": first_name, "language": "en"}
            )
            if not driver.check_password(DEMO_DRIVER_PASSWORD):
                driver.set_password(DEMO_DRIVER_PASSWORD)
                driver.save(update_fields=["password"])
            EmailAddress.objects.get_or_create(
                user=driver, email=email, defaults={"verified": True, "primary": True}
            )
            IdToken.objects.filter(uid=uid, owner__isnull=True).update(owner=driver)
            if in_fleet:
                fleet.members.add(driver)
            else:
                BillingAccount.objects.get_or_create(
                    user=driver, defaults={"payment_method": method}
                )
            if method == BillingAccount.PaymentMethod.WALLET:
                # The reference makes a second run find the first credit.
                wallet.credit_wallet_manually(
                    driver,
                    DEMO_WALLET_CREDIT,
                    staff=admin,
                    reason=_("Demo credit"),
                    reference=f"demo:{email}",
                )
