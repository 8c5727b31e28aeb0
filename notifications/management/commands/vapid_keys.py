"""Print a new VAPID key pair for Web Push, as the settings take it.

python manage.py vapid_keys >> .env
"""

from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from notifications import webpush


class Command(BaseCommand):
    help = _(
        "Print a new VAPID key pair (WEBPUSH_VAPID_PUBLIC_KEY, WEBPUSH_VAPID_PRIVATE_KEY) "
        "for Web Push. Keep the private key secret; changing the pair ends every browser's "
        "subscription."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        public, private = webpush.generate_keys()
        self.stdout.write(f"WEBPUSH_VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"WEBPUSH_VAPID_PRIVATE_KEY={private}")
