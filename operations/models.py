"""The operator's side of the network: tickets, maintenance, inspections, uptime
exclusions, driver support cases and emergency stops."""

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from stations.models import ChargePoint, ChargingSession, Connector, Site

if TYPE_CHECKING:
    from billing.models import SessionCharge


class Ticket(models.Model):
    """Something wrong with a charger (or a site) that a person should look at.

    Faults open tickets on their own (operations/tickets.py); one open ticket per fault:
    `fault_key` (kind, charger, connector) is unique among tickets not yet resolved, so
    the same fault reported again raises `occurrences` and adds evidence instead.
    """

    class Kind(models.TextChoices):
        FAULTED = "faulted", _("Connector faulted")
        OFFLINE = "offline", _("Charger offline")
        STUCK_SESSION = "stuck_session", _("Session stuck")
        REPEATED_BOOTS = "repeated_boots", _("Repeated boots")
        REMOTE_START_FAILED = "remote_start_failed", _("Remote start failed")
        SECURITY_EVENT = "security_event", _("Security event")
        INSPECTION = "inspection", _("Inspection due")
        DRIVER_REPORT = "driver_report", _("Reported by a driver")
        SITE_OVER_LIMIT = "site_over_limit", _("Site over its load limit")
        OTHER = "other", _("Other")

    class Severity(models.TextChoices):
        CRITICAL = "critical", _("Critical")
        MAJOR = "major", _("Major")
        MINOR = "minor", _("Minor")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        IN_PROGRESS = "in_progress", _("In progress")
        WAITING_FOR_PARTS = "waiting_for_parts", _("Waiting for parts")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    # Not resolved or closed: someone still has to act ("open" in the API's filter).
    OPEN_STATUSES = (
        Status.OPEN,
        Status.ACKNOWLEDGED,
        Status.IN_PROGRESS,
        Status.WAITING_FOR_PARTS,
    )

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity.choices, default=Severity.MAJOR
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.OPEN
    )
    title = models.CharField(_("title"), max_length=200)
    site = models.ForeignKey(
        Site, models.CASCADE, null=True, blank=True, related_name="tickets", verbose_name=_("site")
    )
    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("charge point"),
    )
    connector = models.ForeignKey(
        Connector,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("connector"),
    )
    # "<kind>:<charge point id>:<connector id>" for a fault; blank for tickets by hand.
    fault_key = models.CharField(max_length=120, blank=True, editable=False)
    occurrences = models.PositiveIntegerField(_("occurrences"), default=1)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    last_occurred_at = models.DateTimeField(_("last occurred at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    # Why it was resolved: "Connector Available again" when it closed itself.
    resolution = models.TextField(_("resolution"), blank=True)
    # An inspection's checklist: {"item": {"ok": bool, "note": str}}.
    checklist = models.JSONField(_("checklist"), default=dict, blank=True)
    alerted_at = models.DateTimeField(_("staff alerted at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    overdue_alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["fault_key"],
                condition=Q(status__in=["open", "acknowledged", "in_progress", "waiting_for_parts"])
                & ~Q(fault_key=""),
                name="operations_one_open_ticket_per_fault",
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def is_overdue(self, now: "timezone.datetime | None" = None) -> bool:
        return self.is_open and self.due_at is not None and self.due_at < (now or timezone.now())


class TicketEntry(models.Model):
    """One line of a ticket's history: evidence, a comment, a change of state, a repair
    step and the charger's answer, an alert sent."""

    class Kind(models.TextChoices):
        EVIDENCE = "evidence", _("Evidence")
        COMMENT = "comment", _("Comment")
        STATUS = "status", _("Status change")
        REPAIR = "repair", _("Remote repair step")
        ALERT = "alert", _("Alert sent")

    ticket = models.ForeignKey(
        Ticket, models.CASCADE, related_name="entries", verbose_name=_("ticket")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_entries",
        verbose_name=_("author"),
    )
    text = models.TextField(_("text"), blank=True)
    # Evidence: status history, error code, vendor error, the last OCPP messages.
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("ticket entry")
        verbose_name_plural = _("ticket entries")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind} @ {self.created_at:%Y-%m-%d %H:%M}"


# --- Tickets: who is alerted, and the boots that tell of a charger restarting (h2) ---------


class SiteTechnician(models.Model):
    """A technician who covers a site: alerted of its tickets (operations/alerts.py) at
    once, or in one daily digest."""

    site = models.ForeignKey(
        Site, models.CASCADE, related_name="technicians", verbose_name=_("site")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="covered_sites",
        verbose_name=_("technician"),
    )
    digest = models.BooleanField(
        _("daily digest"),
        default=False,
        help_text=_("One email a day with the site's alerts instead of one email per alert."),
    )
    # The digest covers the alerts since the last one sent (or since the row was made).
    last_digest_at = models.DateTimeField(_("last digest at"), default=timezone.now)

    class Meta:
        verbose_name = _("site technician")
        verbose_name_plural = _("site technicians")
        ordering = ["site", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "user"], name="operations_one_row_per_technician"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.site}"


class ChargerBoot(models.Model):
    """An accepted BootNotification: ChargePoint.last_boot_at keeps only the last one, and
    repeated boots (3 within an hour) open a ticket (operations/faults.py)."""

    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("charger boot")
        verbose_name_plural = _("charger boots")
        indexes = [models.Index(fields=["charge_point", "at"])]

    def __str__(self) -> str:
        return f"{self.charge_point_id} @ {self.at:%Y-%m-%d %H:%M:%S}"


class MaintenanceWindow(models.Model):
    """Planned maintenance of one charger or a whole site: its connectors are made
    Inoperative for the window (and back afterwards), and the time is excluded from uptime."""

    site = models.ForeignKey(
        Site,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="maintenance_windows",
        verbose_name=_("site"),
    )
    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="maintenance_windows",
        verbose_name=_("charge point"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    reason = models.CharField(_("reason"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    # When ChargeHub made the connectors Inoperative, and Operative again.
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)

    class Meta:
        verbose_name = _("maintenance window")
        verbose_name_plural = _("maintenance windows")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="maintenance_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(site__isnull=True, charge_point__isnull=False)
                | Q(site__isnull=False, charge_point__isnull=True),
                name="maintenance_site_or_charge_point",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site or self.charge_point} {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        """The constraints below, said to staff in words (on the field at fault, so the
        constraint's own message is not repeated)."""
        errors: dict[str, str] = {}
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            errors["ends_at"] = _("The window must end after it starts.")
        if (self.site_id is None) == (self.charge_point_id is None):
            errors["charge_point"] = _("Choose a site or a charge point: exactly one of them.")
        if errors:
            raise ValidationError(errors)


DEFAULT_CHECKLIST = [
    "Cables",
    "Connectors",
    "Screen",
    "Lighting",
    "Signage",
    "Emergency stop button",
    "Camera",
]


def default_checklist() -> list[str]:
    return list(DEFAULT_CHECKLIST)


class InspectionSchedule(models.Model):
    """A site is inspected every N months against a checklist staff edit; when due, an
    inspection ticket opens (the completed checklist is kept on that ticket)."""

    site = models.ForeignKey(
        Site, models.CASCADE, related_name="inspection_schedules", verbose_name=_("site")
    )
    every_months = models.PositiveSmallIntegerField(_("every (months)"), default=12)
    checklist = models.JSONField(_("checklist"), default=default_checklist)
    next_due = models.DateField(_("next due"))
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("inspection schedule")
        verbose_name_plural = _("inspection schedules")
        ordering = ["next_due"]
        constraints = [
            models.CheckConstraint(condition=Q(every_months__gte=1), name="inspection_every_month")
        ]

    def __str__(self) -> str:
        return f"{self.site} every {self.every_months} months"


class OutageExclusion(models.Model):
    """An outage staff exclude from uptime, with its cause and why (23 CFR 680.116(b)(2)):
    on one connector, one charger or a whole site."""

    class Cause(models.TextChoices):
        GRID_OUTAGE = "grid_outage", _("Grid outage")
        VANDALISM = "vandalism", _("Vandalism")
        FORCE_MAJEURE = "force_majeure", _("Force majeure (natural disaster)")

    site = models.ForeignKey(
        Site, models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("site")
    )
    charge_point = models.ForeignKey(
        ChargePoint,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("charge point"),
    )
    connector = models.ForeignKey(
        Connector,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("connector"),
    )
    cause = models.CharField(_("cause"), max_length=20, choices=Cause.choices)
    reason = models.TextField(_("reason"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("marked by"),
    )
    created_at = models.DateTimeField(_("marked at"), default=timezone.now)

    class Meta:
        verbose_name = _("excluded outage")
        verbose_name_plural = _("excluded outages")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="exclusion_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(site__isnull=True, charge_point__isnull=True, connector__isnull=True),
                name="exclusion_names_what",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_cause_display()} {self.starts_at:%Y-%m-%d %H:%M}"


class SupportCase(models.Model):
    """A driver's report of a problem, answered by support staff in admin."""

    class Category(models.TextChoices):
        CHARGER_BROKEN = "charger_broken", _("Charger broken")
        PAYMENT = "payment", _("Payment")
        CARD = "card", _("Card")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ANSWERED = "answered", _("Answered")
        CLOSED = "closed", _("Closed")

    driver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        related_name="support_cases",
        verbose_name=_("driver"),
    )
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.OPEN
    )
    message = models.TextField(_("message"))
    # The station the driver reported from: kept when no connector was named.
    site = models.ForeignKey(
        Site,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_cases",
        verbose_name=_("site"),
    )
    charge_point = models.ForeignKey(
        ChargePoint,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_cases",
        verbose_name=_("charge point"),
    )
    connector = models.ForeignKey(
        Connector,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_cases",
        verbose_name=_("connector"),
    )
    session = models.ForeignKey(
        ChargingSession,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_cases",
        verbose_name=_("session"),
    )
    ticket = models.ForeignKey(
        Ticket,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_cases",
        verbose_name=_("ticket"),
    )
    # The refund of a payment case (operations/support.py refund()): one per case.
    credit_note = models.ForeignKey(
        "billing.Invoice",
        models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("credit note"),
    )
    created_at = models.DateTimeField(_("reported at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("support case")
        verbose_name_plural = _("support cases")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_category_display()} ({self.driver})"

    @property
    def charge(self) -> "SessionCharge | None":
        """The session's charge (billing.SessionCharge, one per session): what a payment
        case is about and what its refund credits; None before the session is priced."""
        return getattr(self.session, "charge", None) if self.session_id else None


class SupportMessage(models.Model):
    """A message in a support case: the driver's, or support's answer (emailed to the driver)."""

    case = models.ForeignKey(
        SupportCase, models.CASCADE, related_name="messages", verbose_name=_("case")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("author"),
    )
    from_staff = models.BooleanField(_("from support"), default=False)
    body = models.TextField(_("message"))
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("support message")
        verbose_name_plural = _("support messages")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} @ {self.created_at:%Y-%m-%d %H:%M}"


class EmergencyStop(models.Model):
    """A site stopped in an emergency: every session stopped, every connector Inoperative
    until released. Also the audit record: who, when, why, and each charger's result."""

    site = models.ForeignKey(
        Site, models.CASCADE, related_name="emergency_stops", verbose_name=_("site")
    )
    reason = models.TextField(_("reason"))
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("stopped by"),
    )
    started_at = models.DateTimeField(_("stopped at"), default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("released by"),
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    # {charge point id: {"stop": ..., "availability": ..., "release": ...}}: what each
    # charger answered, or why it could not.
    results = models.JSONField(_("results"), default=dict, blank=True)

    class Meta:
        verbose_name = _("emergency stop")
        verbose_name_plural = _("emergency stops")
        ordering = ["-started_at"]
        permissions = [("stop_site", _("Can stop and release a site in an emergency"))]
        constraints = [
            models.UniqueConstraint(
                fields=["site"],
                condition=Q(released_at__isnull=True),
                name="operations_one_emergency_stop_per_site",
            )
        ]

    def __str__(self) -> str:
        return f"{self.site} @ {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


# --- Uptime (operations/uptime.py computes, operations/figures.py stores and reads) -------


class UptimeMonth(models.Model):
    """One port's uptime figures for one month, as operations/uptime.py computed them.

    A summary the pages read instead of the status history: recomputed for the current
    and the previous month every few minutes, and for the last 12 months every night and
    when staff mark an outage excluded (operations/figures.py `refresh`).
    """

    connector = models.ForeignKey(
        Connector, models.CASCADE, related_name="uptime_months", verbose_name=_("connector")
    )
    # The 1st of the month, in the site's time zone.
    month = models.DateField(_("month"))
    measured = models.DurationField(_("time measured"))
    outage = models.DurationField(_("outage"))
    excluded = models.DurationField(_("excluded"))
    # Outages that began this month (one still under way at its start is last month's).
    failures = models.PositiveIntegerField(_("outages begun"))
    uptime_percent = models.DecimalField(_("uptime (%)"), max_digits=5, decimal_places=2)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("uptime")
        verbose_name_plural = _("uptime")
        ordering = ["-month", "connector"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "month"], name="one_uptime_per_port_month")
        ]
        indexes = [models.Index(fields=["month"])]

    def __str__(self) -> str:
        return f"{self.connector} {self.month:%Y-%m} {self.uptime_percent} %"


class OutagePeriod(models.Model):
    """One outage of one port within one month (cut at the month's bounds), with its
    cause and its excluded part: the outage list, MTTR and the outages-per-cause chart."""

    connector = models.ForeignKey(
        Connector, models.CASCADE, related_name="outage_periods", verbose_name=_("connector")
    )
    month = models.DateField(_("month"))
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    # "Offline", "Unavailable", "Unknown", "Faulted" or "Faulted: <OCPP error code>".
    cause = models.CharField(_("cause"), max_length=64)
    excluded = models.DurationField(_("excluded"))
    # Already under way when the month began: the same outage as last month's last one.
    continued = models.BooleanField(_("continued from last month"), default=False)

    class Meta:
        verbose_name = _("outage")
        verbose_name_plural = _("outages")
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["month", "connector"])]

    def __str__(self) -> str:
        return f"{self.connector} {self.cause} @ {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at
