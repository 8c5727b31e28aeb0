"""Recompute the insights summaries from the raw rows (after a fix, or to check them).

python manage.py rebuild_insights
"""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from insights import rollup


class Command(BaseCommand):
    help = _("Recompute the insights summary tables from every priced session.")

    def handle(self, *args: Any, **options: Any) -> None:
        count = rollup.rebuild()
        self.stdout.write(_("Summaries rebuilt from %(count)s sessions.") % {"count": count})
