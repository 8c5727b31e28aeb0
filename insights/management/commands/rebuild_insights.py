"""Recompute the insights summaries from the raw rows (after a fix, or to check them),
and the starts refused at chargers from the days the message log still holds.

python manage.py rebuild_insights
"""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from insights import refusals, rollup


class Command(BaseCommand):
    help = _(
        "Recompute the insights summary tables from every priced session, and the starts "
        "refused at chargers from the message log."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = rollup.rebuild()
        self.stdout.write(_("Summaries rebuilt from %(count)s sessions.") % {"count": count})
        refused = refusals.rebuild_from_log()
        self.stdout.write(
            _("Starts refused at chargers recomputed from the message log: %(count)s.")
            % {"count": refused}
        )
