"""What drivers asked to be told about."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from stations.models import Connector


class Watch(models.Model):
    """A driver waits for a connector to become Available ("Notify me when free").

    Open until the driver has been told (notified_at); a told watch stays as history and
    the driver may open a new one. One open watch per driver and connector: asking twice
    changes nothing.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="watches", verbose_name=_("user")
    )
    connector = models.ForeignKey(
        Connector, models.CASCADE, related_name="watches", verbose_name=_("connector")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("watch")
        verbose_name_plural = _("watches")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "connector"],
                condition=Q(notified_at__isnull=True),
                name="notifications_one_open_watch_per_user_connector",
            )
        ]
        indexes = [
            # The receiver's question on every status change: anyone waiting here?
            models.Index(
                fields=["connector"],
                condition=Q(notified_at__isnull=True),
                name="notifications_open_watches",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} waits for {self.connector}"
