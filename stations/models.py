"""Sites, charge points, connectors and what they tell us (OCPP 1.6 vocabulary)."""

from datetime import time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor as SchemaEditor
from django.db.models import F, Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from chargehub.compiled_queries import CompiledQuery
from stations.charger_auth import CHARGER_HASHER, verified_passwords

# Limits in amps beyond these are typing errors, not fuses: a large industrial grid
# connection is 3,150 A; a car's on-board charger takes at most 80 A (IEC 61851 AC).
SITE_AMPS_MAX = 5000
CAR_AMPS_MAX = 80


class Site(models.Model):
    """A place with chargers behind one grid connection."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    address = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="SE")
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Stockholm")
    grid_capacity_kw = models.DecimalField(
        _("grid capacity (kW)"), max_digits=9, decimal_places=2, null=True, blank=True
    )
    # OCPI 2.2.1 Hours.twentyfourseven; when off, the site's OpeningHours say when.
    open_24_7 = models.BooleanField(
        _("open around the clock"),
        default=True,
        help_text=_("Off: open only during the opening hours below (in the site's time zone)."),
    )
    # Smart charging (stations/site_limits.py, stations/load_balancing.py): a site with a
    # grid limit is managed, its running sessions share it.
    grid_limit_amps = models.DecimalField(
        _("grid limit (A per phase)"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(SITE_AMPS_MAX)],
        help_text=_(
            "The main fuse, per phase. With a limit, the chargers here share it (smart "
            "charging); empty: not managed."
        ),
    )
    phases = models.PositiveSmallIntegerField(
        _("phases"), choices=[(1, _("one phase")), (3, _("three phases"))], default=3
    )
    min_amps = models.DecimalField(
        _("minimum per car (A)"),
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(CAR_AMPS_MAX)],
        help_text=_("Below this a car stops charging; empty: the system's default."),
    )
    # Set from outside (an energy management system, the grid operator) through the API.
    dynamic_limit_amps = models.DecimalField(
        _("dynamic limit (A per phase)"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(SITE_AMPS_MAX)],
    )
    dynamic_limit_until = models.DateTimeField(_("dynamic limit until"), null=True, blank=True)

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


MIDNIGHT = time(0)


class SiteLimitPeriod(models.Model):
    """A lower grid limit for a time of day, in the site's local time (e.g. 17:00-20:00,
    when the building itself draws most); the lowest limit in force applies."""

    site = models.ForeignKey(
        Site, models.CASCADE, related_name="limit_periods", verbose_name=_("site")
    )
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"), help_text=_("00:00 is midnight, the end of the day."))
    amps = models.DecimalField(
        _("limit (A per phase)"),
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(0), MaxValueValidator(SITE_AMPS_MAX)],
    )

    class Meta:
        verbose_name = _("time-of-day limit")
        verbose_name_plural = _("time-of-day limits")
        ordering = ["starts"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends__gt=F("starts")) | Q(ends=time(0)),
                name="site_limit_period_ends_after_starts",
            ),
        ]

    def __str__(self) -> str:
        ends = "24:00" if self.ends == MIDNIGHT else f"{self.ends:%H:%M}"
        return f"{self.starts:%H:%M}-{ends} {self.amps} A"

    def clean(self) -> None:
        if self.starts is None or self.ends is None:
            return
        if not (self.ends > self.starts or self.ends == MIDNIGHT):
            raise ValidationError(
                {"ends": _("The end must be after the start; 00:00 means midnight.")},
                code="ends_before_starts",
            )


class OpeningHours(models.Model):
    """One opening range of a site on one weekday, in the site's local time (OCPI 2.2.1
    Hours.regular_hours). Read only when the site is not open around the clock.

    A range closes later the same day; closing at 00:00 means at midnight, the end of the
    day, so 00:00-00:00 is the whole day. A night open past midnight is two ranges
    (Friday 22:00-00:00, Saturday 00:00-02:00). Several ranges on one day make breaks.
    Shown, never enforced: whether a charger starts outside them is the charger's call.
    """

    class Weekday(models.IntegerChoices):
        # ISO 8601, as OCPI counts them.
        MONDAY = 1, _("Monday")
        TUESDAY = 2, _("Tuesday")
        WEDNESDAY = 3, _("Wednesday")
        THURSDAY = 4, _("Thursday")
        FRIDAY = 5, _("Friday")
        SATURDAY = 6, _("Saturday")
        SUNDAY = 7, _("Sunday")

    site = models.ForeignKey(
        Site, models.CASCADE, related_name="opening_hours", verbose_name=_("site")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"), help_text=_("00:00 is midnight, the end of the day."))

    class Meta:
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekday__gte=1, weekday__lte=7), name="opening_hours_iso_weekday"
            ),
            models.CheckConstraint(
                condition=Q(closes__gt=F("opens")) | Q(closes=MIDNIGHT),
                name="opening_hours_closes_after_opens",
            ),
        ]

    def __str__(self) -> str:
        closes = "24:00" if self.closes_at_midnight else f"{self.closes:%H:%M}"
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{closes}"

    @property
    def closes_at_midnight(self) -> bool:
        return self.closes == MIDNIGHT

    def clean(self) -> None:
        if self.opens is None or self.closes is None:
            return  # the field errors say it
        if not (self.closes > self.opens or self.closes_at_midnight):
            raise ValidationError(
                {
                    "closes": _(
                        "Closing must be after opening on the same day; 00:00 means midnight. "
                        "For a night past midnight, add the rest on the next day."
                    )
                },
                code="closes_before_opens",
            )


class ChargePoint(models.Model):
    """A charger, known by the identity it connects with (`/ocpp/{charge_point_id}`)."""

    class Registration(models.TextChoices):
        # OCPP 1.6 RegistrationStatus, as answered to BootNotification.
        ACCEPTED = "Accepted", _("Accepted")
        PENDING = "Pending", _("Pending approval")
        REJECTED = "Rejected", _("Rejected")

    charge_point_id = models.CharField(_("charge point id"), max_length=48, unique=True)
    site = models.ForeignKey(
        Site,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="charge_points",
        verbose_name=_("site"),
    )
    registration_status = models.CharField(
        _("registration"),
        max_length=16,
        choices=Registration.choices,
        default=Registration.ACCEPTED,
    )
    password_hash = models.CharField(_("password hash"), max_length=200, blank=True)
    # OCPP 1.6 security whitepaper, profile 0: no authentication at all. Anyone who knows
    # the id could then act as this charger (authorize cards, start and stop sessions).
    allow_unauthenticated = models.BooleanField(
        _("security profile 0 (no authentication, test benches only)"),
        default=False,
        help_text=_(
            "Lets this charger connect without a password. Anyone who knows its id can then "
            "act as it: authorize drivers' cards, start and stop sessions. Only for test "
            "benches on a closed network."
        ),
    )
    # OCPP 1.6 security whitepaper profiles: 1 Basic auth, 2 TLS + Basic auth, 3 TLS with a
    # client certificate. Never lowered by a connection (stations/ocpp/connections.py):
    # a charger at 3 that comes with a password over plain WebSocket is refused.
    security_profile = models.PositiveSmallIntegerField(
        _("security profile"),
        choices=[
            (1, _("1: password (Basic auth)")),
            (2, _("2: TLS and password")),
            (3, _("3: TLS with a client certificate")),
        ],
        default=1,
        help_text=_(
            "The lowest security profile this charger may connect with. A connection at a "
            "higher profile raises it; a lower one is refused."
        ),
    )
    protocol = models.CharField(_("protocol"), max_length=16, blank=True)

    # From BootNotification.req.
    vendor = models.CharField(_("vendor"), max_length=20, blank=True)
    model = models.CharField(_("model"), max_length=20, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=25, blank=True)
    charge_box_serial_number = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(_("firmware version"), max_length=50, blank=True)
    iccid = models.CharField(max_length=20, blank=True)
    imsi = models.CharField(max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)

    firmware_status = models.CharField(_("firmware status"), max_length=32, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(_("diagnostics status"), max_length=32, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)
    # Last GetConfiguration answer: {"key": {"value": ..., "readonly": ...}}.
    configuration = models.JSONField(_("configuration"), default=dict, blank=True)
    # When all of it was last read (at boot and periodically: fleet/configuration.py).
    configuration_read_at = models.DateTimeField(_("configuration read at"), null=True, blank=True)

    # Connection state. Server times only: a charger's clock is never used here.
    is_connected = models.BooleanField(_("connected"), default=False)
    connection_id = models.CharField(max_length=64, blank=True)
    connected_at = models.DateTimeField(_("connected at"), null=True, blank=True)
    disconnected_at = models.DateTimeField(_("disconnected at"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("last message at"), null=True, blank=True)
    last_boot_at = models.DateTimeField(_("last boot at"), null=True, blank=True)
    heartbeat_interval = models.PositiveIntegerField(_("heartbeat interval (s)"), default=300)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    # How it is wired (smart charging, stations/smart_charging.py): a three-phase charger
    # draws on every phase of its site, a one-phase one on the site phase its L1 is on.
    phases = models.PositiveSmallIntegerField(
        _("phases wired"), choices=[(1, _("one phase")), (3, _("three phases"))], default=3
    )
    first_phase = models.PositiveSmallIntegerField(
        _("on site phase"),
        choices=[(1, "L1"), (2, "L2"), (3, "L3")],
        default=1,
        help_text=_("The site phase its L1 is connected to (phase rotation)."),
    )

    class Meta:
        verbose_name = _("charge point")
        verbose_name_plural = _("charge points")
        ordering = ["charge_point_id"]
        # Commands (reset, remote start/stop, configuration, …) change what a charger
        # does, not a row: editing a charge point's record does not imply them.
        permissions = [("send_commands", _("Can send commands to chargers"))]

    def __str__(self) -> str:
        return self.charge_point_id

    def clean(self) -> None:
        if self.registration_status == self.Registration.ACCEPTED and not self.can_authenticate:
            raise ValidationError(
                _(
                    "An accepted charger needs a password (or security profile 0 for a test "
                    "bench): set one before accepting it."
                ),
                code="no_password",
            )

    @property
    def can_authenticate(self) -> bool:
        """Whether the charger has a way in: a password, a client certificate (profile 3),
        or security profile 0 by choice."""
        return bool(self.password_hash) or self.allow_unauthenticated or self.security_profile == 3

    def set_password(self, raw_password: str) -> None:
        self.password_hash = make_password(raw_password, hasher=CHARGER_HASHER)

    def check_password(self, raw_password: str) -> bool:
        """Whether a charger's Basic auth password is its own (see charger_auth: a
        password verified before in this process is not run through PBKDF2 again)."""
        return bool(self.password_hash) and verified_passwords.check(
            raw_password, self.password_hash
        )

    @property
    def offline_after(self) -> timedelta:
        factor = settings.OCPP_OFFLINE_AFTER_HEARTBEATS
        return timedelta(seconds=self.heartbeat_interval * factor)

    def is_online(self, now: "timezone.datetime | None" = None) -> bool:
        """Connected and heard from within heartbeat interval x OCPP_OFFLINE_AFTER_HEARTBEATS."""
        if not self.is_connected or self.last_seen_at is None:
            return False
        return self.last_seen_at >= (now or timezone.now()) - self.offline_after

    is_online.boolean = True
    is_online.short_description = _("online")

    @cached_property
    def connectors_by_id(self) -> dict[int, "Connector"]:
        """Its connectors by connector id, read once for this instance.

        The consumer keeps one instance per connection and reads it afresh every
        SEEN_WRITE_INTERVAL (stations/ocpp/consumer.py), so an OCPP call finds its
        connector here instead of asking the database each time. Each connector holds
        this instance as its charge_point (no query for it either). Its SQL is built once
        (CONNECTORS_OF): a held charger reads them again after each sign of life.
        """
        connectors = CONNECTORS_OF.fetch(charge_point=self)
        for connector in connectors:
            connector.charge_point = self  # as self.connectors.all() sets it
        return {connector.connector_id: connector for connector in connectors}

    @cached_property
    def sessions_by_id(self) -> dict[int, "ChargingSession"]:
        """Its active sessions by id (transactionId), each kept from the StartTransaction
        that opened it or read at its first MeterValues on this instance, and kept for
        the next ones (stations/ocpp/v16.py).

        As stale as connectors_by_id at most (the consumer reads the instance afresh every
        SEEN_WRITE_INTERVAL): the samples take only the session's id from it, and the
        listeners its status and token owner; a stop reads its session afresh.
        """
        return {}

    def forget_rows(self) -> None:
        """Drop the connectors and sessions kept on this instance: the next use reads
        them again."""
        self.__dict__.pop("connectors_by_id", None)
        self.__dict__.pop("sessions_by_id", None)


class Connector(models.Model):
    """A connector of a charge point. Connector 0 stands for the charge point as a whole."""

    class Status(models.TextChoices):
        # OCPP 1.6 ChargePointStatus.
        AVAILABLE = "Available", _("Available")
        PREPARING = "Preparing", _("Preparing")
        CHARGING = "Charging", _("Charging")
        SUSPENDED_EVSE = "SuspendedEVSE", _("Suspended by charger")
        SUSPENDED_EV = "SuspendedEV", _("Suspended by vehicle")
        FINISHING = "Finishing", _("Finishing")
        RESERVED = "Reserved", _("Reserved")
        UNAVAILABLE = "Unavailable", _("Unavailable")
        FAULTED = "Faulted", _("Faulted")
        UNKNOWN = "Unknown", _("Unknown")

    # Statuses in which a port cannot charge: an outage for uptime, indexed on StatusEvent.
    DOWN_STATUSES = (Status.FAULTED, Status.UNAVAILABLE, Status.UNKNOWN)

    class Type(models.TextChoices):
        TYPE2 = "Type2", _("Type 2")
        CCS2 = "CCS2", _("CCS 2")
        CHADEMO = "CHAdeMO", _("CHAdeMO")
        TYPE1 = "Type1", _("Type 1")
        CCS1 = "CCS1", _("CCS 1")
        SCHUKO = "Schuko", _("Schuko")
        OTHER = "Other", _("Other")

    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="connectors", verbose_name=_("charge point")
    )
    connector_id = models.PositiveSmallIntegerField(_("connector id"))
    connector_type = models.CharField(
        _("type"), max_length=16, choices=Type.choices, default=Type.TYPE2
    )
    max_power_kw = models.DecimalField(
        _("max power (kW)"), max_digits=7, decimal_places=2, default=Decimal("22")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.UNKNOWN
    )
    error_code = models.CharField(_("error code"), max_length=32, default="NoError")
    info = models.CharField(_("info"), max_length=50, blank=True)
    vendor_id = models.CharField(_("vendor id"), max_length=255, blank=True)
    vendor_error_code = models.CharField(_("vendor error code"), max_length=50, blank=True)
    status_at = models.DateTimeField(_("status since"), null=True, blank=True)

    class Meta:
        verbose_name = _("connector")
        verbose_name_plural = _("connectors")
        ordering = ["charge_point", "connector_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point", "connector_id"], name="unique_connector_per_charge_point"
            )
        ]

    def __str__(self) -> str:
        return f"{self.charge_point.charge_point_id}#{self.connector_id}"


class StatusEvent(models.Model):
    """Every StatusNotification as received: the connector's history."""

    connector = models.ForeignKey(Connector, models.CASCADE, related_name="status_events")
    status = models.CharField(max_length=16, choices=Connector.Status.choices)
    error_code = models.CharField(max_length=32, default="NoError")
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    timestamp = models.DateTimeField(_("time"))
    clock_suspect = models.BooleanField(default=False)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("status event")
        verbose_name_plural = _("status events")
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["connector", "-timestamp"]),
            # Uptime reads only the down statuses (under 1 % of the rows) of a year.
            models.Index(
                fields=["connector", "timestamp"],
                condition=models.Q(status__in=Connector.DOWN_STATUSES),
                name="status_event_down",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector} {self.status} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class ConnectionEvent(models.Model):
    """A charger came online or went offline (socket opened, closed, or fell silent).

    The online history that uptime reads: StatusNotifications say what a connector does,
    only these say whether the charger could be reached at all.
    """

    class Kind(models.TextChoices):
        CONNECTED = "connected", _("Connected")
        DISCONNECTED = "disconnected", _("Disconnected")

    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        related_name="connection_events",
        verbose_name=_("charge point"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("connection event")
        verbose_name_plural = _("connection events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["charge_point", "at"])]

    def __str__(self) -> str:
        return f"{self.charge_point_id} {self.kind} @ {self.at:%Y-%m-%d %H:%M:%S}"


class SecurityEvent(models.Model):
    """Every SecurityEventNotification a charger sent (OCPP 1.6 security whitepaper ed. 3,
    §2.5; the event types are its Appendix 1)."""

    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="security_events", verbose_name=_("charge point")
    )
    type = models.CharField(_("type"), max_length=50)
    tech_info = models.CharField(_("technical information"), max_length=255, blank=True)
    timestamp = models.DateTimeField(_("time"))
    clock_suspect = models.BooleanField(default=False)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security events")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.charge_point_id} {self.type} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class FirmwareStatusEvent(models.Model):
    """Every FirmwareStatusNotification (OCPP 1.6 §4.5) and SignedFirmwareStatusNotification
    (security whitepaper ed. 3, §4.3) as received: a charger's firmware history, not only
    its latest status (ChargePoint.firmware_status)."""

    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        related_name="firmware_status_events",
        verbose_name=_("charge point"),
    )
    status = models.CharField(_("status"), max_length=32)
    # The signed update's requestId; None for a plain 1.6 FirmwareStatusNotification.
    request_id = models.IntegerField(_("request id"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("firmware status event")
        verbose_name_plural = _("firmware status events")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["charge_point", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.charge_point_id} {self.status} @ {self.received_at:%Y-%m-%d %H:%M:%S}"


class DiagnosticsStatusEvent(models.Model):
    """Every DiagnosticsStatusNotification (OCPP 1.6 §4.4) and LogStatusNotification
    (security whitepaper ed. 3, §4.2) as received: how each upload went."""

    class Kind(models.TextChoices):
        DIAGNOSTICS = "diagnostics", _("Diagnostics")
        LOG = "log", _("Log")

    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        related_name="diagnostics_status_events",
        verbose_name=_("charge point"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=32)
    # GetLog's requestId; None for GetDiagnostics, which has none.
    request_id = models.IntegerField(_("request id"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("diagnostics status event")
        verbose_name_plural = _("diagnostics status events")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["charge_point", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.charge_point_id} {self.kind} {self.status}"


class ChargerCertificate(models.Model):
    """A charger's own certificate (whitepaper: ChargePointCertificate), signed by the
    charging-station CA from the charger's CSR (SignCertificate) or issued by staff; what
    security profile 3 checks a client certificate against (stations/certificates.py)."""

    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="certificates", verbose_name=_("charge point")
    )
    # Hex, as x509 shows it: unique per issuer, and ChargeHub's CA is the only issuer here.
    serial_number = models.CharField(_("serial number"), max_length=64, unique=True)
    subject = models.CharField(_("subject"), max_length=255)
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"), db_index=True)
    pem = models.TextField(_("certificate (PEM)"))
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    # CertificateSigned's answer: whether the charger took it.
    installed_at = models.DateTimeField(_("installed at"), null=True, blank=True)
    # When ExtendedTriggerMessage asked the charger for a new CSR before this one expires.
    renewal_requested_at = models.DateTimeField(_("renewal asked for at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("charger certificate")
        verbose_name_plural = _("charger certificates")
        ordering = ["not_after", "id"]

    def __str__(self) -> str:
        return f"{self.subject} ({self.serial_number})"


class InstalledCertificate(models.Model):
    """A root certificate a charger reported installed (GetInstalledCertificateIds), by
    the whitepaper's CertificateHashData; DeleteCertificate removes one by it."""

    class Type(models.TextChoices):
        CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate", _("central system root")
        MANUFACTURER_ROOT = "ManufacturerRootCertificate", _("manufacturer root")

    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        related_name="installed_certificates",
        verbose_name=_("charge point"),
    )
    certificate_type = models.CharField(_("type"), max_length=32, choices=Type.choices)
    hash_algorithm = models.CharField(_("hash algorithm"), max_length=8)
    issuer_name_hash = models.CharField(max_length=128)
    issuer_key_hash = models.CharField(max_length=128)
    serial_number = models.CharField(_("serial number"), max_length=40)
    reported_at = models.DateTimeField(_("reported at"), default=timezone.now)

    class Meta:
        verbose_name = _("installed root certificate")
        verbose_name_plural = _("installed root certificates")
        ordering = ["charge_point", "certificate_type", "serial_number"]

    def __str__(self) -> str:
        return f"{self.get_certificate_type_display()} {self.serial_number}"

    def hash_data(self) -> dict[str, str]:
        """The whitepaper's CertificateHashDataType, as DeleteCertificate sends it."""
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }


class StopReason(models.TextChoices):
    """Why a transaction stopped (OCPP 1.6 §7.38 Reason), in words staff read."""

    EMERGENCY_STOP = "EmergencyStop", _("Emergency stop button")
    EV_DISCONNECTED = "EVDisconnected", _("Car disconnected")
    HARD_RESET = "HardReset", _("Hard reset")
    LOCAL = "Local", _("Stopped at the charger")
    OTHER = "Other", _("Other")
    POWER_LOSS = "PowerLoss", _("Power loss")
    REBOOT = "Reboot", _("Charger rebooted")
    REMOTE = "Remote", _("Stopped remotely")
    SOFT_RESET = "SoftReset", _("Soft reset")
    UNLOCK_COMMAND = "UnlockCommand", _("Unlock command")
    DE_AUTHORIZED = "DeAuthorized", _("Card no longer authorized")


class ChargingSession(models.Model):
    """One OCPP transaction. Its primary key is the transactionId the charger was given."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")

    charge_point = models.ForeignKey(
        ChargePoint, models.PROTECT, related_name="sessions", verbose_name=_("charge point")
    )
    connector = models.ForeignKey(
        Connector, models.PROTECT, related_name="sessions", verbose_name=_("connector")
    )
    id_tag = models.CharField(_("id tag"), max_length=20)
    id_token = models.ForeignKey(
        "users.IdToken", models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    reservation_id = models.IntegerField(null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    started_at = models.DateTimeField(_("started at"))
    meter_start_wh = models.BigIntegerField(_("meter start (Wh)"))
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    meter_stop_wh = models.BigIntegerField(_("meter stop (Wh)"), null=True, blank=True)
    energy_wh = models.BigIntegerField(_("energy (Wh)"), null=True, blank=True)
    stop_reason = models.CharField(
        _("stop reason"), max_length=32, blank=True, choices=StopReason.choices
    )
    stop_id_tag = models.CharField(max_length=20, blank=True)
    # Who closed it: "charger" (StopTransaction) or the rule that closed it for the charger.
    closed_by = models.CharField(_("closed by"), max_length=100, blank=True)
    clock_suspect = models.BooleanField(
        _("charger clock suspect"),
        default=False,
        help_text=_("A charger timestamp was not believed; server time was stored instead."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("charging session")
        verbose_name_plural = _("charging sessions")
        ordering = ["-started_at"]
        # The session lists (admin, newest first) and admin's date drill-down read it:
        # without it each sorted every session (45 ms at 56,000, bench/big_tables.py).
        indexes = [models.Index(fields=["started_at"], name="chargingsession_started")]
        constraints = [
            # A retransmitted StartTransaction.req must find the session it created.
            models.UniqueConstraint(
                fields=["charge_point", "connector", "id_tag", "meter_start_wh", "started_at"],
                name="unique_start_transaction",
            ),
            models.UniqueConstraint(
                fields=["connector"],
                condition=Q(status="active"),
                name="one_active_session_per_connector",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.connector} {self.id_tag}"

    @property
    def transaction_id(self) -> int:
        return self.pk

    @property
    def driver_id(self) -> int | None:
        """The user whose token the session runs on (the driver who may watch it), if any.
        No query when the token was read with the session, as the OCPP handlers do."""
        return self.id_token.owner_id if self.id_token_id is not None else None


class MeterSample(models.Model):
    """One sampledValue of a MeterValues.req (or of StopTransaction transactionData).

    The value is kept exactly as received (signed data included); `value_decimal` holds
    the number for raw numeric values. Optional fields are "" rather than NULL so that
    the uniqueness below also catches retransmitted samples. Format and unit are part of
    it: a signing meter sends its reading twice at one instant, Raw and SignedData.
    """

    # No index of their own: the unique key below starts with charge_point, the index
    # (session, timestamp) with session; each serves their lookups (docs/performance.md).
    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="meter_samples", db_index=False
    )
    connector_id = models.PositiveSmallIntegerField()
    session = models.ForeignKey(
        ChargingSession,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="meter_samples",
        db_index=False,
    )
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=40, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True)
    location = models.CharField(max_length=8, blank=True)
    context = models.CharField(max_length=24, default="Sample.Periodic")
    format = models.CharField(max_length=12, default="Raw")
    unit = models.CharField(max_length=12, default="Wh")
    value = models.TextField()
    value_decimal = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    clock_suspect = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("meter sample")
        verbose_name_plural = _("meter samples")
        ordering = ["timestamp", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "connector_id",
                    "timestamp",
                    "measurand",
                    "phase",
                    "location",
                    "context",
                    "format",
                    "unit",
                ],
                name="unique_meter_sample",
            )
        ]
        indexes = [models.Index(fields=["session", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.measurand} {self.value} {self.unit} @ {self.timestamp}"


class Reservation(models.Model):
    """A connector held for an id tag (ReserveNow); the pk is the OCPP reservationId."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")

    charge_point = models.ForeignKey(ChargePoint, models.CASCADE, related_name="reservations")
    connector_id = models.PositiveSmallIntegerField()
    id_tag = models.CharField(max_length=20)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.charge_point.charge_point_id}#{self.connector_id} {self.id_tag}"


class NoOverlappingBookings(models.BaseConstraint):
    """Two live bookings of a connector never overlap, said by PostgreSQL itself: an
    exclusion constraint, so that of two concurrent transactions one fails.

    A connector and a slot are both ranges (int8range of one id, tstzrange [start, end)),
    so the gist index needs no btree_gist extension. SQLite has no such constraint: there
    charging/bookings.py checks inside one IMMEDIATE transaction, which takes the write
    lock first. Model validation leaves it to that check, which says it in words.
    """

    SQL = (
        "EXCLUDE USING gist (int8range(connector_id, connector_id, '[]') WITH &&, "
        "tstzrange(starts_at, ends_at, '[)') WITH &&) WHERE (status = 'booked')"
    )

    def _on_postgresql(self, schema_editor: SchemaEditor) -> bool:
        return schema_editor.connection.vendor == "postgresql"

    def constraint_sql(self, model: type[models.Model], schema_editor: SchemaEditor) -> str | None:
        if not self._on_postgresql(schema_editor):
            return None
        return f"CONSTRAINT {schema_editor.quote_name(self.name)} {self.SQL}"

    def create_sql(self, model: type[models.Model], schema_editor: SchemaEditor) -> str | None:
        if not self._on_postgresql(schema_editor):
            return None
        table = schema_editor.quote_name(model._meta.db_table)
        return f"ALTER TABLE {table} ADD {self.constraint_sql(model, schema_editor)}"

    def remove_sql(self, model: type[models.Model], schema_editor: SchemaEditor) -> str | None:
        if not self._on_postgresql(schema_editor):
            return None
        table = schema_editor.quote_name(model._meta.db_table)
        name = schema_editor.quote_name(self.name)
        return f"ALTER TABLE {table} DROP CONSTRAINT {name}"

    def validate(self, *args: object, **kwargs: object) -> None:
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoOverlappingBookings) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)


class Booking(models.Model):
    """A connector booked ahead by a driver for a time slot (charging/bookings.py).

    From BOOKING_LEAD_MINUTES before the slot the charger holds the connector for the
    booker's token (`reservation`, ReserveNow). Two live bookings of a connector never
    overlap (NoOverlappingBookings on PostgreSQL, the same check in one write
    transaction on SQLite: charging/bookings.py).
    """

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CANCELLED = "cancelled", _("Cancelled")
        USED = "used", _("Used")
        NO_SHOW = "no_show", _("Not used")

    connector = models.ForeignKey(
        Connector, models.CASCADE, related_name="bookings", verbose_name=_("connector")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="bookings",
        verbose_name=_("driver"),
    )
    id_token = models.ForeignKey(
        "users.IdToken",
        models.PROTECT,
        related_name="bookings",
        verbose_name=_("held for token"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.BOOKED
    )
    # Set when a worker takes the ReserveNow on, so that two workers send it once.
    hold_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reservation = models.OneToOneField(
        Reservation,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="booking",
        verbose_name=_("reservation"),
    )
    fee_charged = models.DecimalField(
        _("fee charged (SEK)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("The no-show or late cancellation fee, VAT included."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["status", "starts_at"]),
            models.Index(fields=["connector", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__lt=F("ends_at")), name="booking_starts_before_it_ends"
            ),
            NoOverlappingBookings(name="booking_no_overlap_per_connector"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.connector} {self.starts_at:%Y-%m-%d %H:%M}"


class OcppMessage(models.Model):
    """The OCPP message log: every frame in and out, kept OCPP_MESSAGE_LOG_DAYS days."""

    class Direction(models.TextChoices):
        IN = "in", _("charger → server")
        OUT = "out", _("server → charger")

    class MessageType(models.IntegerChoices):
        # OCPP-J 1.6 §4.1.3 MessageTypeNumber.
        CALL = 2, "CALL"
        CALLRESULT = 3, "CALLRESULT"
        CALLERROR = 4, "CALLERROR"

    charge_point_id = models.CharField(max_length=48)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(choices=MessageType.choices)
    unique_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, blank=True)
    frame = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("OCPP message")
        verbose_name_plural = _("OCPP message log")
        ordering = ["-created_at", "-id"]
        # The log's lists (admin) read newest first: one charger's, one action's, the
        # errors; each index gives them in that order, so a page reads its 100 rows and
        # stops (bench/big_tables.py: 50 M rows).
        indexes = [
            models.Index(fields=["charge_point_id", "created_at"], name="ocppmessage_charger_time"),
            models.Index(fields=["action", "created_at"], name="ocppmessage_action_time"),
            models.Index(
                fields=["created_at"],
                condition=Q(message_type=4),  # CALLERROR: rare, so a small index
                name="ocppmessage_callerror_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charge_point_id} {self.direction} {self.action or self.message_type}"


class RefusedConnection(models.Model):
    """Connection attempts refused at the handshake, one row per charger id, address and
    reason, counted: how staff find a charger configured with a typo or an old password."""

    charge_point_id = models.CharField(_("charge point id"), max_length=48)
    address = models.CharField(_("address"), max_length=45, blank=True)
    reason = models.CharField(_("reason"), max_length=100)
    count = models.PositiveIntegerField(_("attempts"), default=1)
    first_at = models.DateTimeField(_("first attempt"), default=timezone.now)
    last_at = models.DateTimeField(_("last attempt"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("refused connection")
        verbose_name_plural = _("refused connections")
        ordering = ["-last_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point_id", "address", "reason"],
                name="unique_refused_connection",
            )
        ]

    def __str__(self) -> str:
        return f"{self.charge_point_id} from {self.address}: {self.reason}"


class ChargerCommand(models.Model):
    """A command sent to a charger (RemoteStartTransaction, Reset, …), its answer and its issuer."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ANSWERED = "answered", _("Answered")
        ERROR = "error", _("CALLERROR")
        TIMEOUT = "timeout", _("Timed out")
        OFFLINE = "offline", _("Charger offline")
        INVALID = "invalid", _("Invalid request")

    charge_point = models.ForeignKey(ChargePoint, models.CASCADE, related_name="commands")
    action = models.CharField(_("action"), max_length=64)
    payload = models.JSONField(_("request"), default=dict)
    unique_id = models.CharField(max_length=64, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="charger_commands",
        verbose_name=_("issued by"),
    )
    source = models.CharField(
        _("source"), max_length=32, blank=True, help_text=_("admin, api, cli, task, …")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    response = models.JSONField(_("answer"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("charger command")
        verbose_name_plural = _("charger commands")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} → {self.charge_point.charge_point_id} ({self.status})"


class CommandBatch(models.Model):
    """One command sent to many chargers at once, run in the background (a Celery task)
    in parallel, followed on a live progress page (stations/batches.py)."""

    operation = models.CharField(_("command"), max_length=40)
    title = models.CharField(_("title"), max_length=100)
    # The command's parameters, after the charge point id (stations/operations.py).
    arguments = models.JSONField(_("parameters"), default=list, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    created_at = models.DateTimeField(_("issued at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("command to many chargers")
        verbose_name_plural = _("commands to many chargers")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.title} #{self.pk}"


class CommandBatchItem(models.Model):
    """One charger of a batch and how its command went."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent, waiting for the answer")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused by the charger")
        OFFLINE = "offline", _("Offline")
        TIMEOUT = "timeout", _("Timed out")
        FAILED = "failed", _("Failed")

    FINISHED = (Status.DONE, Status.REFUSED, Status.OFFLINE, Status.TIMEOUT, Status.FAILED)

    batch = models.ForeignKey(
        CommandBatch, models.CASCADE, related_name="items", verbose_name=_("batch")
    )
    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    message = models.CharField(_("answer"), max_length=500, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("charger in a batch")
        verbose_name_plural = _("chargers in a batch")
        ordering = ["charge_point__charge_point_id"]

    def __str__(self) -> str:
        return f"{self.charge_point_id}: {self.status}"


class ConnectorAllocation(models.Model):
    """The current smart charging allocation of a connector (stations/load_balancing.py):
    what it should get, what its charger accepted, what its car draws."""

    class ProfileStatus(models.TextChoices):
        NONE = "", _("Not sent")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Refused by the charger")
        FAILED = "failed", _("No answer (tried twice)")

    connector = models.OneToOneField(
        Connector,
        models.CASCADE,
        primary_key=True,
        related_name="allocation",
        verbose_name=_("connector"),
    )
    session = models.ForeignKey(
        ChargingSession, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    limit_amps = models.DecimalField(
        _("allocated (A)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    accepted_amps = models.DecimalField(
        _("charger holds (A)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    drawn_amps = models.DecimalField(
        _("drawn (A)"), max_digits=6, decimal_places=1, null=True, blank=True
    )
    priority = models.IntegerField(_("priority"), default=0)
    waiting = models.BooleanField(
        _("waiting"), default=False, help_text=_("The site cannot serve it now: 0 A.")
    )
    profile_status = models.CharField(
        _("profile"), max_length=10, choices=ProfileStatus.choices, blank=True
    )
    profile_error = models.CharField(_("profile error"), max_length=300, blank=True)
    # Set by a scheduler (cheap-hour charging): the most this session may get now.
    cap_amps = models.DecimalField(
        _("cap (A)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("connector allocation")
        verbose_name_plural = _("connector allocations")

    def __str__(self) -> str:
        return f"{self.connector_id}: {self.limit_amps} A"


class SiteAllocationRun(models.Model):
    """A site's smart charging runs: asked for (`requested_at`), one at a time
    (`running_since`, a lease claimed by a conditional UPDATE), and the last outcome."""

    site = models.OneToOneField(
        Site, models.CASCADE, primary_key=True, related_name="allocation_run"
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    running_since = models.DateTimeField(null=True, blank=True)
    ran_at = models.DateTimeField(_("last allocation"), null=True, blank=True)
    limit_amps = models.DecimalField(
        _("limit applied (A)"), max_digits=5, decimal_places=1, null=True, blank=True
    )
    # {"load": {"1": "63.0", ...}, "waiting": 2, "over_limit": false}
    outcome = models.JSONField(_("outcome"), default=dict, blank=True)

    class Meta:
        verbose_name = _("site allocation")
        verbose_name_plural = _("site allocations")

    def __str__(self) -> str:
        return str(self.site)


class LocalListEntry(models.Model):
    """A token on the local authorization list of a site's chargers, or of one charger.

    What the charger is told about it (Accepted, Blocked, Expired) is derived when the
    list is sent (stations/local_list.py), never stored here.
    """

    token = models.ForeignKey(
        "users.IdToken",
        models.CASCADE,
        related_name="local_list_entries",
        verbose_name=_("id token"),
    )
    site = models.ForeignKey(
        Site,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="local_list_entries",
        verbose_name=_("site"),
    )
    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="local_list_entries",
        verbose_name=_("charge point"),
    )

    class Meta:
        verbose_name = _("local list entry")
        verbose_name_plural = _("local list entries")
        constraints = [
            # A site's list or a charger's own, never both nor neither.
            models.CheckConstraint(
                condition=models.Q(site__isnull=False, charge_point__isnull=True)
                | models.Q(site__isnull=True, charge_point__isnull=False),
                name="local_list_entry_site_xor_charge_point",
            ),
            models.UniqueConstraint(fields=["token", "site"], name="local_list_entry_per_site"),
            models.UniqueConstraint(
                fields=["token", "charge_point"], name="local_list_entry_per_charge_point"
            ),
        ]

    def __str__(self) -> str:
        return str(self.token)


class LocalListSync(models.Model):
    """What a charger's local authorization list holds, as far as ChargeHub knows.

    `version` and `entries` are what the charger accepted last (OCPP 1.6 §5.15);
    `charger_version` is what it reported in GetLocalListVersion; `changed_at` marks
    token changes waiting for the debounced sync (stations/local_list.py).
    """

    charge_point = models.OneToOneField(
        ChargePoint, models.CASCADE, primary_key=True, related_name="local_list"
    )
    version = models.IntegerField(_("list version sent"), default=0)
    # {"ID-TAG": {"status": "Accepted", "expiryDate": "...", "parentIdTag": "..."}}
    entries = models.JSONField(_("entries on the charger"), default=dict, blank=True)
    charger_version = models.IntegerField(_("list version reported"), null=True, blank=True)
    changed_at = models.DateTimeField(_("change waiting since"), null=True, blank=True)
    synced_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    # A lease: one sync per charger at a time (claimed by a conditional UPDATE).
    syncing_since = models.DateTimeField(null=True, blank=True)
    last_result = models.CharField(_("last result"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("local list sync")
        verbose_name_plural = _("local list syncs")

    def __str__(self) -> str:
        return str(self.charge_point)

    @property
    def in_sync(self) -> bool:
        """The charger holds our version and no token change waits to be sent."""
        return self.charger_version == self.version and self.changed_at is None


class SiteLoadSample(models.Model):
    """What a smart charging run measured at a site: the cars' draw per phase against the
    limit it applied (the site admin's chart). Kept for LOAD_HISTORY (load_balancing)."""

    site = models.ForeignKey(
        Site, models.CASCADE, related_name="load_samples", verbose_name=_("site")
    )
    measured_at = models.DateTimeField(_("measured at"), default=timezone.now)
    limit_amps = models.DecimalField(_("limit applied (A)"), max_digits=5, decimal_places=1)
    # Per phase; null where the site has no such phase.
    drawn_l1 = models.DecimalField(_("drawn L1 (A)"), max_digits=6, decimal_places=1)
    drawn_l2 = models.DecimalField(
        _("drawn L2 (A)"), max_digits=6, decimal_places=1, null=True, blank=True
    )
    drawn_l3 = models.DecimalField(
        _("drawn L3 (A)"), max_digits=6, decimal_places=1, null=True, blank=True
    )

    class Meta:
        verbose_name = _("site load sample")
        verbose_name_plural = _("site load samples")
        ordering = ["measured_at"]
        # The chart reads one site's day; pruning drops every site's old samples.
        indexes = [
            models.Index(fields=["site", "measured_at"]),
            models.Index(fields=["measured_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.measured_at:%Y-%m-%d %H:%M}"


class ChargingPlan(models.Model):
    """A driver's cheap-hour plan (charging/cheap_hours.py): the most the session may draw
    in each period until departure. Made at the start, claimed by the session that
    starts on the connector for the same id tag; on a managed site the allocation reads
    the period in force as the connector's cap (stations/load_balancing.py)."""

    connector = models.ForeignKey(
        Connector, models.CASCADE, related_name="plans", verbose_name=_("connector")
    )
    id_tag = models.CharField(_("id tag"), max_length=20)
    session = models.OneToOneField(
        ChargingSession,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="plan",
        verbose_name=_("session"),
    )
    # [{"start": ISO, "end": ISO, "watts": int}, ...] in time order, to the departure.
    periods = models.JSONField(_("periods"), default=list)
    departure_at = models.DateTimeField(_("departure"))
    energy_wh = models.PositiveIntegerField(_("energy wanted (Wh)"))
    created_at = models.DateTimeField(_("made at"), default=timezone.now)
    # The plan's next period boundary after the last allocation: a run is due then.
    next_change_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("charging plan")
        verbose_name_plural = _("charging plans")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.connector} {self.id_tag} → {self.departure_at:%Y-%m-%d %H:%M}"


# A charge point's connectors (ChargePoint.connectors_by_id), its SQL built once.
CONNECTORS_OF = CompiledQuery(
    lambda charge_point: Connector.objects.filter(charge_point=charge_point)
)
