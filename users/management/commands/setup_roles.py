"""Create or update the staff roles' groups (users/roles.py); safe to run again.

python manage.py setup_roles
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from users import roles


class Command(BaseCommand):
    help = _(
        "Create or update one group per staff role with exactly the permissions defined in "
        "users/roles.py. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            counts = roles.set_up_roles()
        except roles.UnknownPermission as error:
            raise CommandError(str(error)) from None
        for name, count in counts.items():
            self.stdout.write(_("%(role)s: %(count)d permissions") % {"role": name, "count": count})
