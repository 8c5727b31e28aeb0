"""Create the message log's and meter samples' monthly partitions ahead (PostgreSQL).

python manage.py create_partitions [--months-ahead 3]

Beat does the same daily (stations.tasks.create_partitions); on SQLite it does nothing.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from stations import partitions


class Command(BaseCommand):
    help = _(
        "Create this month's and the coming months' partitions of the message log and samples."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--months-ahead",
            type=int,
            default=partitions.MONTHS_AHEAD,
            help=_("How many months after this one to create (default %(default)s)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not partitions.enabled():
            self.stdout.write(_("The tables are not partitioned here (PostgreSQL only)."))
            return
        created = partitions.create_ahead(months_ahead=options["months_ahead"])
        for name in created:
            self.stdout.write(_("Created %(name)s") % {"name": name})
        if not created:
            self.stdout.write(_("All partitions exist already."))
