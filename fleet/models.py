"""Fleet operations: firmware and its campaigns, diagnostics uploads, configuration
baselines. Everything here hangs off stations' chargers; stations never imports it."""

import hashlib
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from stations.models import ChargePoint, DiagnosticsStatusEvent, Site


def sha256_of(file: File) -> str:
    """The SHA-256 (hex) of a file, read in chunks (firmware may be large)."""
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    return digest.hexdigest()


def new_token() -> str:
    """An unguessable URL token (256 bits)."""
    return secrets.token_urlsafe(32)


class FleetStorage(FileSystemStorage):
    """Firmware and uploaded diagnostics under FLEET_FILES_DIR, read at each use (a test
    points it elsewhere); never served as static or media files, only through fleet's
    views, which check a token or a staff login."""

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.FLEET_FILES_DIR)

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(Path(self.base_location).resolve())


fleet_storage = FleetStorage()


class FirmwareImage(models.Model):
    """A firmware file (uploaded, or at a URL elsewhere) for some charger models."""

    version = models.CharField(_("version"), max_length=50)
    charger_models = models.CharField(
        _("charger models"),
        max_length=200,
        help_text=_("The BootNotification models it is for, separated by commas."),
    )
    file = models.FileField(
        _("file"), upload_to="firmware/", storage=fleet_storage, blank=True, max_length=200
    )
    url = models.URLField(
        _("URL elsewhere"),
        blank=True,
        help_text=_("Instead of a file: where chargers fetch it (HTTP, HTTPS or FTP)."),
    )
    sha256 = models.CharField(
        _("SHA-256"),
        max_length=64,
        blank=True,
        help_text=_("Of the file: checked on upload when given, computed otherwise."),
    )
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    expires_at = models.DateTimeField(
        _("link expires at"), help_text=_("After this the download link answers 410 Gone.")
    )
    # Security whitepaper ed. 3 §4.4 (SignedUpdateFirmware): PEM certificate and the
    # Base64 signature of the file, both or neither.
    signing_certificate = models.TextField(_("signing certificate (PEM)"), blank=True)
    signature = models.TextField(_("signature (Base64)"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("firmware")
        verbose_name_plural = _("firmware")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.version} ({self.charger_models})"

    def clean(self) -> None:
        if bool(self.file) == bool(self.url):
            raise ValidationError(_("Upload a file or give a URL, one of them."))
        if bool(self.signing_certificate) != bool(self.signature):
            raise ValidationError(_("A signed firmware needs both its certificate and signature."))

    @property
    def models_list(self) -> list[str]:
        return [name.strip() for name in self.charger_models.split(",") if name.strip()]

    @property
    def is_signed(self) -> bool:
        return bool(self.signature)


class FirmwareCampaign(models.Model):
    """Firmware sent to a selection of chargers in waves (fleet/campaigns.py)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        STOPPED = "stopped", _("Stopped")
        FINISHED = "finished", _("Finished")

    name = models.CharField(_("name"), max_length=100)
    firmware = models.ForeignKey(
        FirmwareImage, models.PROTECT, related_name="campaigns", verbose_name=_("firmware")
    )
    # The selection: every field given narrows it; an explicit list replaces the rest.
    site = models.ForeignKey(
        Site, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("site")
    )
    charger_model = models.CharField(_("charger model"), max_length=20, blank=True)
    current_firmware = models.CharField(
        _("current firmware"),
        max_length=50,
        blank=True,
        help_text=_("Only chargers that report this firmware version now."),
    )
    charge_points = models.ManyToManyField(
        ChargePoint,
        blank=True,
        related_name="+",
        verbose_name=_("explicit chargers"),
        help_text=_("When chosen, exactly these chargers (the other filters are ignored)."),
    )
    wave_size = models.PositiveIntegerField(_("chargers per wave"), default=10)
    wave_pause_minutes = models.PositiveIntegerField(_("pause between waves (minutes)"), default=30)
    max_failure_percent = models.PositiveIntegerField(
        _("stop above this failure share (%)"),
        default=20,
        help_text=_("A wave with a larger share of failed chargers stops the campaign."),
    )
    only_in_maintenance_window = models.BooleanField(
        _("only during a maintenance window"),
        default=False,
        help_text=_("Send to a charger only while a maintenance window of it is in force."),
    )
    signed = models.BooleanField(
        _("signed update"),
        default=False,
        help_text=_("SignedUpdateFirmware (security whitepaper) instead of UpdateFirmware."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    stop_reason = models.CharField(_("why it stopped"), max_length=200, blank=True)
    current_wave = models.PositiveIntegerField(_("current wave"), default=0)
    next_wave_at = models.DateTimeField(_("next wave at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Who started it: its updates are that person's commands (the audit's actor).
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("firmware campaign")
        verbose_name_plural = _("firmware campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.wave_size < 1:
            raise ValidationError({"wave_size": _("A wave has at least one charger.")})
        if self.max_failure_percent > 100:
            raise ValidationError({"max_failure_percent": _("A share is at most 100 %.")})
        if self.signed and self.firmware_id and not self.firmware.is_signed:
            raise ValidationError({"signed": _("This firmware has no signature.")})


class CampaignTarget(models.Model):
    """One charger of a campaign: its wave and how its update goes."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for its wave")
        SENT = "sent", _("Update sent")
        DOWNLOADING = "downloading", _("Downloading")
        DOWNLOADED = "downloaded", _("Downloaded")
        INSTALLING = "installing", _("Installing")
        RETRY = "retry", _("Failed once, sent again")
        INSTALLED = "installed", _("Installed")
        FAILED = "failed", _("Failed")
        NOT_SENT = "not_sent", _("Not sent (campaign stopped)")

    FINISHED = (Status.INSTALLED, Status.FAILED, Status.NOT_SENT)

    campaign = models.ForeignKey(
        FirmwareCampaign, models.CASCADE, related_name="targets", verbose_name=_("campaign")
    )
    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    wave = models.PositiveIntegerField(_("wave"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    message = models.CharField(_("message"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("charger in a campaign")
        verbose_name_plural = _("chargers in a campaign")
        ordering = ["wave", "charge_point__charge_point_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "charge_point"], name="one_target_per_charger"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} {self.charge_point_id}"


class DiagnosticsUpload(models.Model):
    """A diagnostics file or log asked of a charger, and what it uploaded (fleet/diagnostics.py).

    The upload URL carries a one-time token: the first upload is stored, any later one
    is refused, as is one after `expires_at`.
    """

    class Kind(models.TextChoices):
        DIAGNOSTICS = "diagnostics", _("Diagnostics (GetDiagnostics)")
        DIAGNOSTICS_LOG = "DiagnosticsLog", _("Diagnostics log (GetLog)")
        SECURITY_LOG = "SecurityLog", _("Security log (GetLog)")

    charge_point = models.ForeignKey(
        ChargePoint, models.CASCADE, related_name="+", verbose_name=_("charge point")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    expires_at = models.DateTimeField(_("link expires at"))
    answer = models.CharField(_("charger's answer"), max_length=300, blank=True)
    used_at = models.DateTimeField(_("uploaded at"), null=True, blank=True)
    file = models.FileField(
        _("file"), upload_to="diagnostics/", storage=fleet_storage, blank=True, max_length=200
    )
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)

    class Meta:
        verbose_name = _("diagnostics upload")
        verbose_name_plural = _("diagnostics uploads")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return (
            f"{self.charge_point_id} {self.get_kind_display()} {self.requested_at:%Y-%m-%d %H:%M}"
        )

    @property
    def status_kind(self) -> str:
        """Which status notifications tell how this upload goes."""
        if self.kind == self.Kind.DIAGNOSTICS:
            return DiagnosticsStatusEvent.Kind.DIAGNOSTICS
        return DiagnosticsStatusEvent.Kind.LOG


class ConfigurationBaseline(models.Model):
    """The value a configuration key should have on every charger of a model; the fleet
    table highlights chargers that differ (fleet/configuration.py)."""

    charger_model = models.CharField(_("charger model"), max_length=20)
    key = models.CharField(_("key"), max_length=50)
    value = models.CharField(_("value"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("configuration baseline")
        verbose_name_plural = _("configuration baselines")
        ordering = ["charger_model", "key"]
        constraints = [
            models.UniqueConstraint(fields=["charger_model", "key"], name="one_baseline_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.charger_model} {self.key}={self.value}"
