"""Send one OCPP 1.6 command to a connected charger and print its answer as JSON.

    python manage.py ocpp_call CP-1 Reset '{"type": "Soft"}'
    python manage.py ocpp_call CP-1 GetConfiguration

The charger may be held by any server process: the command travels over the channel
layer (see stations/ocpp/commands.py). Exits non-zero, with the reason on stderr, when
the charger is unknown, offline, answers a CALLERROR or nothing in time.
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from stations.ocpp import commands


class Command(BaseCommand):
    help = _("Send an OCPP 1.6 command to a charger and print its answer as JSON.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("charge_point_id")
        parser.add_argument("action", help=_("e.g. Reset, GetConfiguration, TriggerMessage"))
        parser.add_argument(
            "payload", nargs="?", default="{}", help=_("The request as a JSON object (camelCase).")
        )
        parser.add_argument(
            "--timeout", type=float, default=None, help=_("Seconds to wait for the answer.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            payload = json.loads(options["payload"])
        except ValueError as error:
            raise CommandError(
                _("The payload is not valid JSON: %(error)s") % {"error": error}
            ) from None
        if not isinstance(payload, dict):
            raise CommandError(_('The payload must be a JSON object, e.g. \'{"type": "Soft"}\'.'))
        try:
            answer = commands.send_payload_sync(
                options["charge_point_id"],
                options["action"],
                payload,
                timeout=options["timeout"],
                source="cli",
            )
        except commands.CallErrorReceived as error:
            raise CommandError(
                _("%(id)s answered CALLERROR %(code)s: %(description)s")
                % {
                    "id": options["charge_point_id"],
                    "code": error.error_code,
                    "description": error.description,
                }
            ) from None
        except commands.CommandError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(answer, ensure_ascii=False))
