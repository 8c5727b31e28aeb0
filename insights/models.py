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


# --- Summary tables: written only by insights/rollup.py, read by the dashboards ---


class ConnectorHour(models.Model):
    """A connector's hour (UTC): how long it was occupied (a session ran) and charging
    (until the car was full, billing's charging time), the sessions begun and their
    energy. `hour_of_week` is the hour in the site's time zone (0 = Monday 00-01), for
    the heatmap."""

    connector = models.ForeignKey(
        "stations.Connector", models.CASCADE, related_name="+", verbose_name=_("connector")
    )
    site = models.ForeignKey(
        "stations.Site", models.CASCADE, related_name="+", verbose_name=_("site")
    )
    hour = models.DateTimeField(_("hour"))
    hour_of_week = models.PositiveSmallIntegerField(_("hour of the week"))
    occupied_seconds = models.PositiveIntegerField(_("occupied (s)"), default=0)
    charging_seconds = models.PositiveIntegerField(_("charging (s)"), default=0)
    sessions = models.PositiveIntegerField(_("sessions begun"), default=0)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), default=0)

    class Meta:
        verbose_name = _("connector hour")
        verbose_name_plural = _("connector hours")
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "hour"], name="one_summary_per_connector_hour"
            )
        ]
        indexes = [models.Index(fields=["site", "hour"]), models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.hour:%Y-%m-%d %H}:00"


class SiteDay(models.Model):
    """A site's day (in its time zone) per payment method and customer group (the fleet
    that paid, else blank): sessions ended, their energy, money and minutes."""

    site = models.ForeignKey(
        "stations.Site", models.CASCADE, related_name="+", verbose_name=_("site")
    )
    day = models.DateField(_("day"))
    connector_type = models.CharField(_("connector type"), max_length=16)
    method = models.CharField(_("paid by"), max_length=16)
    customer_group = models.CharField(_("customer group"), max_length=100, blank=True)
    sessions = models.PositiveIntegerField(_("sessions"), default=0)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), default=0)
    net = models.DecimalField(_("net"), max_digits=14, decimal_places=2, default=0)
    gross = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=0)
    duration_minutes = models.DecimalField(
        _("plugged in (min)"), max_digits=14, decimal_places=3, default=0
    )
    charging_minutes = models.DecimalField(
        _("charging (min)"), max_digits=14, decimal_places=3, default=0
    )
    idle_minutes = models.DecimalField(_("idle (min)"), max_digits=14, decimal_places=3, default=0)

    class Meta:
        verbose_name = _("site day")
        verbose_name_plural = _("site days")
        constraints = [
            models.UniqueConstraint(
                fields=["site", "day", "connector_type", "method", "customer_group"],
                name="one_summary_per_site_day",
            )
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.site_id} {self.day} {self.method}"


class DriverMonth(models.Model):
    """A driver's month (Europe/Stockholm, TIME_ZONE): their sessions, energy and money,
    their sign-up month (cohort), how they pay and whether they were on a plan."""

    user = models.ForeignKey(
        "users.User", models.CASCADE, related_name="+", verbose_name=_("driver")
    )
    month = models.DateField(_("month"))
    cohort = models.DateField(_("signed up in"))
    method = models.CharField(_("paid by"), max_length=16)
    on_plan = models.BooleanField(_("on a subscription plan"), default=False)
    sessions = models.PositiveIntegerField(_("sessions"), default=0)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), default=0)
    gross = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=0)
    # Delivered vs rated: what the connectors could have given in the charging time.
    charging_seconds = models.BigIntegerField(_("charging (s)"), default=0)
    rated_wh = models.BigIntegerField(_("rated energy (Wh)"), default=0)

    class Meta:
        verbose_name = _("driver month")
        verbose_name_plural = _("driver months")
        constraints = [
            models.UniqueConstraint(fields=["user", "month"], name="one_summary_per_driver_month")
        ]
        indexes = [models.Index(fields=["month"]), models.Index(fields=["cohort", "month"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.month:%Y-%m}"


class RollupMark(models.Model):
    """How far the summaries have read: the last SessionCharge rolled up (a charge is
    written once, when its session is priced, so every session is counted once)."""

    name = models.CharField(max_length=32, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    rolled_up_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_id}"


class Dashboard(ConnectorHour):
    """The dashboards' entry in admin (insights/admin.py): a proxy, for its permissions."""

    class Meta:
        proxy = True
        verbose_name = _("dashboard")
        verbose_name_plural = _("dashboards")
        default_permissions = ()
        # Who sees which dashboard (users/roles.py): finance the money, technicians and
        # operators the use of the chargers.
        permissions = [
            ("view_utilisation", _("Can see the utilisation and charging pattern dashboards")),
            ("view_revenue", _("Can see the revenue dashboard")),
            ("view_drivers", _("Can see the drivers dashboard")),
        ]
