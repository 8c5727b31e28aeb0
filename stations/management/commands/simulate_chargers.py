"""Run simulated OCPP 1.6 chargers against a ChargeHub server until Ctrl-C or SIGTERM.

    python manage.py simulate_chargers --count 3 --url ws://127.0.0.1:8000/ocpp \\
        --prefix DEMO- --password secret --register --auto-sessions

Charger ids are f"{prefix}{i:03d}" for i in 1..count. With --register the chargers are
created (or updated) in the database with the given password first.
"""

import asyncio
import random
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from stations.models import ChargePoint, Connector
from stations.ocpp.connections import CHARGE_POINT_ID_PATTERN
from stations.simulator import SimulatedChargePoint
from users.models import IdToken

# Fallback id tag for sessions the simulators start on their own, when the database
# holds no accepted token (the server then answers Invalid and no session starts).
DEFAULT_ID_TAG = "SIM-TAG"


class Command(BaseCommand):
    help = _("Run simulated OCPP 1.6 chargers against a ChargeHub server.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=1, help=_("Number of chargers."))
        parser.add_argument(
            "--url",
            default="ws://127.0.0.1:8000/ocpp",
            help=_("OCPP endpoint; the charger id is appended."),
        )
        parser.add_argument("--prefix", default="SIM-", help=_("Charger id prefix."))
        parser.add_argument("--password", help=_("HTTP Basic auth password of every charger."))
        parser.add_argument(
            "--register",
            action="store_true",
            help=_("Create or update the chargers in the database with --password first."),
        )
        parser.add_argument("--connectors", type=int, default=2, help=_("Connectors each."))
        parser.add_argument(
            "--meter-interval",
            type=float,
            default=10.0,
            help=_("Seconds between MeterValues while charging."),
        )
        parser.add_argument(
            "--auto-sessions",
            action="store_true",
            help=_("Start and stop charging sessions at random, as drivers would."),
        )
        parser.add_argument(
            "--id-tag",
            action="append",
            dest="id_tags",
            help=_("Id tag for automatic sessions (repeatable); default: tokens in the database."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["count"]
        if count < 1:
            raise CommandError(_("--count must be at least 1."))
        if not 1 <= options["connectors"] <= 32:
            raise CommandError(_("--connectors must be between 1 and 32."))
        ids = [f"{options['prefix']}{i:03d}" for i in range(1, count + 1)]
        invalid = [cp_id for cp_id in ids if not CHARGE_POINT_ID_PATTERN.match(cp_id)]
        if invalid:
            raise CommandError(_("Invalid charge point id: %s") % invalid[0])
        if options["register"]:
            if not options["password"]:
                raise CommandError(_("--register needs --password."))
            self._register(ids, options["password"], options["connectors"])

        id_tags = options["id_tags"] or self._demo_id_tags()
        chargers = [
            SimulatedChargePoint(
                cp_id,
                options["url"],
                password=options["password"],
                connectors=options["connectors"],
                meter_interval=options["meter_interval"],
                auto_sessions=options["auto_sessions"],
                id_tags=id_tags,
            )
            for cp_id in ids
        ]
        self.stdout.write(
            _("Simulating %(count)d chargers (%(first)s…) against %(url)s; Ctrl-C stops.")
            % {"count": count, "first": ids[0], "url": options["url"]}
        )
        asyncio.run(self._run(chargers))
        self.stdout.write(_("Simulators stopped."))

    def _register(self, ids: list[str], password: str, connectors: int) -> None:
        for cp_id in ids:
            charge_point = ChargePoint.objects.filter(charge_point_id=cp_id).first()
            if charge_point is None:
                charge_point = ChargePoint(
                    charge_point_id=cp_id, vendor="ChargeHub", model="Sim-22"
                )
            charge_point.registration_status = ChargePoint.Registration.ACCEPTED
            charge_point.set_password(password)
            charge_point.save()
            for number in range(1, connectors + 1):
                Connector.objects.get_or_create(charge_point=charge_point, connector_id=number)
        self.stdout.write(_("Registered %d chargers.") % len(ids))

    def _demo_id_tags(self) -> list[str]:
        tags = list(
            IdToken.objects.filter(status=IdToken.Status.ACCEPTED, expires_at__isnull=True)
            .order_by("uid")
            .values_list("uid", flat=True)[:20]
        )
        return tags or [DEFAULT_ID_TAG]

    async def _run(self, chargers: list[SimulatedChargePoint]) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)

        async def start(charger: SimulatedChargePoint, delay: float) -> None:
            # Spread the connects: a thousand chargers do not boot in the same millisecond.
            await asyncio.sleep(delay)
            await charger.run()

        spread = min(len(chargers) / 50, 30.0)
        tasks = [
            asyncio.create_task(start(charger, random.uniform(0, spread))) for charger in chargers
        ]
        await stopping.wait()
        self.stdout.write(_("Stopping…"))
        await asyncio.gather(*(charger.stop() for charger in chargers), return_exceptions=True)
        try:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        except TimeoutError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
