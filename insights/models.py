"""What insights keeps of its own: the drivers' searches (no personal data) and, in
summary tables, the figures the dashboards read."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class SearchRecord(models.Model):
    """One station search in the portal or the API, on a coarse grid cell.

    No personal data: no user, no exact position (the cell's south-west corner, rounded
    to `insights.searches.GRID_DEGREES`), the hour only. What site planning and "sessions
    turned away" need: where drivers looked, for what, and whether anything was free.
    """

    hour = models.DateTimeField(_("hour"), db_index=True)
    cell_latitude = models.DecimalField(
        _("cell latitude"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    cell_longitude = models.DecimalField(
        _("cell longitude"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    connector_type = models.CharField(_("connector type wanted"), max_length=16, blank=True)
    found_free = models.BooleanField(_("found a free connector"))

    class Meta:
        verbose_name = _("station search")
        verbose_name_plural = _("station searches")
        ordering = ["-hour", "-id"]
        indexes = [models.Index(fields=["cell_latitude", "cell_longitude", "hour"])]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 {self.cell_latitude},{self.cell_longitude}"
