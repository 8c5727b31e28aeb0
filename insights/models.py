"""What insights keeps of its own: the drivers' searches (no personal data) and, in
summary tables, the figures the dashboards read."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models import CustomerGroup


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


class CustomerKind(models.TextChoices):
    """Whom a session's money counts under in the revenue figures (insights/rollup.py
    `customer_of`): billing's customer groups (CustomerGroup.Kind, the same values), and
    the drivers outside any group, guests and sessions without an account."""

    FLEET = CustomerGroup.Kind.FLEET.value, _("Fleet")
    PLAN = CustomerGroup.Kind.PLAN.value, _("Subscription plan")
    STAFF = CustomerGroup.Kind.STAFF.value, _("Staff")
    DRIVER = "driver", _("Pay-as-you-go drivers")
    GUEST = "guest", _("Guests paying at the charger")
    NO_ACCOUNT = "no_account", _("Without an account")


class SiteDay(models.Model):
    """A site's day (in its time zone) per payment method and customer (the kind, and the
    group's name for fleets, plans and staff, else blank): sessions begun, their energy,
    money and minutes; and the no-show fees of bookings whose slot began that day, whose
    money `net` and `gross` include (`fee_net`, `fee_gross`: of which fees)."""

    site = models.ForeignKey(
        "stations.Site", models.CASCADE, related_name="+", verbose_name=_("site")
    )
    day = models.DateField(_("day"))
    connector_type = models.CharField(_("connector type"), max_length=16)
    method = models.CharField(_("paid by"), max_length=16)
    customer_kind = models.CharField(
        _("kind of customer"), max_length=16, choices=CustomerKind.choices
    )
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
    fees = models.PositiveIntegerField(_("no-show fees"), default=0)
    fee_net = models.DecimalField(
        _("no-show fees, net"), max_digits=14, decimal_places=2, default=0
    )
    fee_gross = models.DecimalField(
        _("no-show fees, total"), max_digits=14, decimal_places=2, default=0
    )

    class Meta:
        verbose_name = _("site day")
        verbose_name_plural = _("site days")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "site",
                    "day",
                    "connector_type",
                    "method",
                    "customer_kind",
                    "customer_group",
                ],
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


class SessionMix(models.Model):
    """A site's day (in its time zone) counted by the shape of its sessions: how long
    each was plugged in and how much energy it took (the lower edge of its bucket,
    insights/rollup.py LENGTH_EDGES_MINUTES and ENERGY_EDGES_KWH), per connector type
    and power class. The histograms and the shares by power class read it."""

    class PowerClass(models.TextChoices):
        # By the connector's rated power; AC or DC by its type (an "Other" connector is
        # AC up to 22 kW, DC above): insights/rollup.py power_class.
        AC = "ac", _("AC up to 22 kW")
        AC_FAST = "ac_fast", _("AC over 22 kW")
        DC = "dc", _("DC under 100 kW")
        DC_FAST = "dc_fast", _("DC 100-149 kW")
        DC_HIGH = "dc_high", _("DC 150 kW and more")

    site = models.ForeignKey(
        "stations.Site", models.CASCADE, related_name="+", verbose_name=_("site")
    )
    day = models.DateField(_("day"))
    connector_type = models.CharField(_("connector type"), max_length=16)
    power_class = models.CharField(_("power class"), max_length=8, choices=PowerClass.choices)
    length_minutes = models.PositiveIntegerField(_("plugged in from (min)"))
    energy_kwh = models.PositiveIntegerField(_("energy from (kWh)"))
    sessions = models.PositiveIntegerField(_("sessions"), default=0)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), default=0)

    class Meta:
        verbose_name = _("session mix")
        verbose_name_plural = _("session mixes")
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "site", "day", "connector_type", "power_class", "length_minutes", "energy_kwh"
                ],
                name="one_summary_per_session_mix",
            )
        ]  # fmt: skip
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.site_id} {self.day} {self.power_class}"


class RefusedStart(models.Model):
    """A driver turned away at a charger: an Authorize or StartTransaction answered with
    an idTagInfo status other than Accepted (stations.signals.authorization_refused).
    No token or driver is kept: the site, the charger and why."""

    site = models.ForeignKey(
        "stations.Site", models.CASCADE, related_name="+", verbose_name=_("site")
    )
    charge_point = models.ForeignKey(
        "stations.ChargePoint", models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    connector_id = models.PositiveSmallIntegerField(_("connector id"), default=0)
    action = models.CharField(_("refused"), max_length=32)
    status = models.CharField(_("answer"), max_length=16)
    at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("start refused at a charger")
        verbose_name_plural = _("starts refused at chargers")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["site", "at"])]

    def __str__(self) -> str:
        return f"{self.charge_point_id} {self.action} {self.status} {self.at:%Y-%m-%d %H:%M}"


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


# --- Decisions: written by insights/forecasting.py, maintenance_data.py; staff's candidates ---


class SiteForecast(models.Model):
    """A site's demand forecast as last trained (weekly, insights/forecasting.py): its
    backtest against seasonal-naive, whether it expects the site full, and the station
    page's hint. Pages read this row and its HourForecast rows, never the model."""

    site = models.OneToOneField(
        "stations.Site", models.CASCADE, related_name="+", verbose_name=_("site")
    )
    trained_at = models.DateTimeField(_("trained at"))
    connectors = models.PositiveIntegerField(_("connectors"))
    history_hours = models.PositiveIntegerField(_("hours of history"))
    # Mean absolute error (connectors) on the held-back weeks; null: too little history.
    weeks_held_back = models.PositiveSmallIntegerField(_("weeks held back"), default=0)
    model_error = models.FloatField(_("model error"), null=True, blank=True)
    baseline_error = models.FloatField(_("seasonal-naive error"), null=True, blank=True)
    full_hours = models.PositiveIntegerField(_("hours expected full"), default=0)
    first_full_at = models.DateTimeField(_("first expected full"), null=True, blank=True)
    # "Usually busy 17-19, quieter at 14:00" (local hours; busy_to exclusive).
    busy_from = models.PositiveSmallIntegerField(null=True, blank=True)
    busy_to = models.PositiveSmallIntegerField(null=True, blank=True)
    quiet_at = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("demand forecast")
        verbose_name_plural = _("demand forecasts")
        ordering = ["site__name"]

    def __str__(self) -> str:
        return f"{self.site} @ {self.trained_at:%Y-%m-%d %H:%M}"

    @property
    def beats_baseline(self) -> bool | None:
        if self.model_error is None or self.baseline_error is None:
            return None
        return self.model_error < self.baseline_error

    @property
    def expected_full(self) -> bool:
        return self.full_hours > 0


class HourForecast(models.Model):
    """Connectors a site is expected to have busy, on average, in one coming hour."""

    site = models.ForeignKey(
        "stations.Site", models.CASCADE, related_name="+", verbose_name=_("site")
    )
    hour = models.DateTimeField(_("hour"))
    occupancy = models.FloatField(_("expected busy connectors"))

    class Meta:
        verbose_name = _("hourly forecast")
        verbose_name_plural = _("hourly forecasts")
        ordering = ["site", "hour"]
        constraints = [
            models.UniqueConstraint(fields=["site", "hour"], name="insights_one_forecast_per_hour")
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.hour:%Y-%m-%d %H}:00 {self.occupancy:.1f}"


class ChargerRisk(models.Model):
    """A charger's predictive-maintenance risk as last assessed (daily,
    insights/maintenance_data.py): its score and the evidence behind it."""

    charge_point = models.OneToOneField(
        "stations.ChargePoint", models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    assessed_on = models.DateField(_("assessed on"))
    score = models.FloatField(_("risk score"))
    flagged = models.BooleanField(_("flagged"), default=False)
    # [{"metric", "recent", "own", "peers", "risk"}] (insights.maintenance.Evidence).
    evidence = models.JSONField(_("evidence"), default=list, blank=True)

    class Meta:
        verbose_name = _("maintenance risk")
        verbose_name_plural = _("maintenance risks")
        ordering = ["-score", "charge_point__charge_point_id"]
        permissions = [("open_inspection", _("Can open an inspection ticket from a risk"))]

    def __str__(self) -> str:
        return f"{self.charge_point} {self.score:.1f}"


class CandidateLocation(models.Model):
    """A place staff consider for a new site, scored by site planning
    (insights/planning.py) against the unmet demand around it."""

    name = models.CharField(_("name"), max_length=200)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    expected_traffic = models.PositiveIntegerField(
        _("expected traffic (vehicles a day)"), null=True, blank=True
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("candidate location")
        verbose_name_plural = _("candidate locations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
