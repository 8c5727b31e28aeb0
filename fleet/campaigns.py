"""Firmware campaigns: which chargers, in which waves, how each update goes, when to stop.

A campaign moves only through `advance()`, which is idempotent and safe to run from
several processes at once (a beat task every minute, and a task after each firmware
status): each wave is claimed by one conditional UPDATE of `current_wave`, each retry by
one of its target's status. A failure (a failed download or installation, a refused or
unanswered command, no final status within FLEET_FIRMWARE_TIMEOUT_MINUTES) is retried
once; a wave whose share of failed chargers exceeds `max_failure_percent` stops the
campaign, and the chargers not yet sent stay untouched.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fleet.models import CampaignTarget, FirmwareCampaign, FirmwareImage, sha256_of
from operations.availability import windows_covering
from stations import batches, operations
from stations.models import ChargePoint, ChargingSession, FirmwareStatusEvent
from stations.ocpp import commands

logger = logging.getLogger(__name__)

SOURCE = "firmware campaign"
Status = CampaignTarget.Status

# A failure is sent once more; the second one is final.
MAX_ATTEMPTS = 2

# FirmwareStatusNotification (OCPP 1.6 §7.25) and the whitepaper's FirmwareStatusEnumType
# (ed. 3 §5.2): how far the update got. Idle says nothing about our update.
PROGRESS = {
    "DownloadScheduled": Status.SENT,
    "Downloading": Status.DOWNLOADING,
    "DownloadPaused": Status.DOWNLOADING,
    "Downloaded": Status.DOWNLOADED,
    "SignatureVerified": Status.DOWNLOADED,
    "InstallScheduled": Status.DOWNLOADED,
    "Installing": Status.INSTALLING,
    "InstallRebooting": Status.INSTALLING,
    "Installed": Status.INSTALLED,
}
FAILURES = {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed"}
IN_FLIGHT = (Status.SENT, Status.DOWNLOADING, Status.DOWNLOADED, Status.INSTALLING)


def firmware_location(firmware: FirmwareImage) -> str:
    """The URL a charger fetches the firmware from: ours (unguessable, expiring) or the
    one staff gave."""
    if firmware.url:
        return firmware.url
    name = firmware.file.name.rsplit("/", 1)[-1]
    path = reverse("fleet:firmware", kwargs={"token": firmware.token, "name": name})
    return settings.FLEET_PUBLIC_URL.rstrip("/") + path


def selection(campaign: FirmwareCampaign) -> QuerySet[ChargePoint]:
    """The chargers a campaign is for: its explicit list, else every accepted charger of
    the firmware's models narrowed by site, model and current firmware. Either way only
    chargers of the firmware's models: a wrong image can leave a charger unusable."""
    if campaign.pk and campaign.charge_points.exists():
        return campaign.charge_points.filter(model__in=campaign.firmware.models_list)
    chargers = ChargePoint.objects.filter(
        registration_status=ChargePoint.Registration.ACCEPTED,
        model__in=campaign.firmware.models_list,
    )
    if campaign.site_id:
        chargers = chargers.filter(site_id=campaign.site_id)
    if campaign.charger_model:
        chargers = chargers.filter(model=campaign.charger_model)
    if campaign.current_firmware:
        chargers = chargers.filter(firmware_version=campaign.current_firmware)
    return chargers


def cannot_start(campaign: FirmwareCampaign, now: datetime | None = None) -> str | None:
    """Why the campaign cannot start now, or None: a firmware file whose link has expired
    would only be answered 410 to every charger of the first wave; a stored file that is
    gone or no longer has the SHA-256 checked on upload is not what staff chose."""
    firmware = campaign.firmware
    if not firmware.file:
        return None  # at a URL elsewhere: the charger fetches it from there
    if firmware.expires_at <= (now or timezone.now()):
        return _("The link of firmware %(firmware)s expired at %(expired)s: extend it first.") % {
            "firmware": firmware,
            "expired": firmware.expires_at.isoformat(timespec="minutes"),
        }
    try:
        with firmware.file.open("rb") as file:
            actual = sha256_of(file)
    except OSError:
        actual = None
    if actual is None or (firmware.sha256 and actual != firmware.sha256):
        return _(
            "The stored file of firmware %(firmware)s is missing or no longer has its "
            "SHA-256: upload it again."
        ) % {"firmware": firmware}
    return None


def start(campaign: FirmwareCampaign, started_by: Any = None) -> int:
    """Fix the campaign's chargers and let its first wave go; returns how many chargers.

    Only a draft starts (a conditional UPDATE: a double click starts it once); the caller
    asks cannot_start() first. Its commands are `started_by`'s (else its creator's).
    """
    now = timezone.now()
    user = started_by if getattr(started_by, "is_authenticated", False) else None
    with transaction.atomic():
        started = FirmwareCampaign.objects.filter(
            pk=campaign.pk, status=FirmwareCampaign.Status.DRAFT
        ).update(
            status=FirmwareCampaign.Status.RUNNING,
            started_at=now,
            next_wave_at=now,
            started_by=user,
        )
        if not started:
            return 0
        targets = [
            CampaignTarget(campaign=campaign, charge_point=charge_point)
            for charge_point in selection(campaign).order_by("charge_point_id")
        ]
        CampaignTarget.objects.bulk_create(targets)
    campaign.refresh_from_db()
    return len(targets)


def stop(campaign: FirmwareCampaign, reason: str) -> bool:
    """Stop a running campaign: chargers not sent yet are never sent."""
    with transaction.atomic():
        stopped = FirmwareCampaign.objects.filter(
            pk=campaign.pk, status=FirmwareCampaign.Status.RUNNING
        ).update(
            status=FirmwareCampaign.Status.STOPPED,
            stop_reason=reason[:200],
            finished_at=timezone.now(),
        )
        if stopped:
            campaign.targets.filter(status=Status.PENDING).update(
                status=Status.NOT_SENT, updated_at=timezone.now()
            )
    return bool(stopped)


def firmware_status(event: FirmwareStatusEvent) -> int | None:
    """Move the charger's update in a running campaign on; the campaign's id when it
    needs advance() (a failure to retry, or a charger done), else None."""
    target = (
        CampaignTarget.objects.filter(
            charge_point_id=event.charge_point_id,
            campaign__status=FirmwareCampaign.Status.RUNNING,
            status__in=IN_FLIGHT,
        )
        .order_by("-sent_at")
        .first()
    )
    if target is None:
        return None
    if event.status in FAILURES:
        _failed(target, event.status)
        return target.campaign_id
    status = PROGRESS.get(event.status)
    if status is None:
        return None
    CampaignTarget.objects.filter(pk=target.pk, status__in=IN_FLIGHT).update(
        status=status, updated_at=event.received_at
    )
    return target.campaign_id if status == Status.INSTALLED else None


def _failed(target: CampaignTarget, why: str) -> None:
    """A failure of an update in flight: once more, or final after MAX_ATTEMPTS."""
    final = target.attempts >= MAX_ATTEMPTS
    CampaignTarget.objects.filter(pk=target.pk, status__in=IN_FLIGHT).update(
        status=Status.FAILED if final else Status.RETRY,
        message=why[:300],
        updated_at=timezone.now(),
    )


def advance(campaign_id: int, now: datetime | None = None) -> None:
    """Do what is due now: retries, time-outs, the stop or end, the next wave."""
    for _step in range(100):  # each round changes something; a bound, not a schedule
        campaign = FirmwareCampaign.objects.select_related(
            "firmware", "started_by", "created_by"
        ).get(pk=campaign_id)
        if campaign.status != FirmwareCampaign.Status.RUNNING:
            return
        if not _step_once(campaign, now or timezone.now()):
            return


def _step_once(campaign: FirmwareCampaign, now: datetime) -> bool:
    """One step; True when another may follow at once."""
    retries = _claim(campaign.targets.filter(status=Status.RETRY), Status.RETRY)
    if retries:
        _send_all(campaign, retries)
        return True
    timeout = now - timedelta(minutes=settings.FLEET_FIRMWARE_TIMEOUT_MINUTES)
    for target in campaign.targets.filter(status__in=IN_FLIGHT, sent_at__lt=timeout):
        _failed(target, _("No final status in time"))
    if campaign.targets.filter(status__in=(*IN_FLIGHT, Status.RETRY)).exists():
        return False  # the wave is still under way

    if campaign.current_wave:
        wave = list(campaign.targets.filter(wave=campaign.current_wave))
        failed = sum(target.status == Status.FAILED for target in wave)
        if wave and failed * 100 > campaign.max_failure_percent * len(wave):
            stop(
                campaign,
                _("Wave %(wave)d: %(failed)d of %(count)d chargers failed (over %(limit)d %%).")
                % {
                    "wave": campaign.current_wave,
                    "failed": failed,
                    "count": len(wave),
                    "limit": campaign.max_failure_percent,
                },
            )
            return False
    pending = campaign.targets.filter(status=Status.PENDING)
    if not pending.exists():
        FirmwareCampaign.objects.filter(
            pk=campaign.pk, status=FirmwareCampaign.Status.RUNNING
        ).update(status=FirmwareCampaign.Status.FINISHED, finished_at=now)
        return False
    if campaign.next_wave_at is None:
        # The wave just ended: the next one after the pause.
        FirmwareCampaign.objects.filter(
            pk=campaign.pk, current_wave=campaign.current_wave, next_wave_at__isnull=True
        ).update(next_wave_at=now + timedelta(minutes=campaign.wave_pause_minutes))
        return campaign.wave_pause_minutes == 0
    if campaign.next_wave_at > now:
        return False
    chosen = _ready(campaign, pending, now)
    if not chosen:
        return False  # all busy or outside their window: the next run looks again
    wave = campaign.current_wave + 1
    claimed = FirmwareCampaign.objects.filter(
        pk=campaign.pk, current_wave=campaign.current_wave, status=FirmwareCampaign.Status.RUNNING
    ).update(current_wave=wave, next_wave_at=None)
    if not claimed:
        return False  # another process took this wave
    CampaignTarget.objects.filter(pk__in=[t.pk for t in chosen], status=Status.PENDING).update(
        wave=wave
    )
    targets = _claim(campaign.targets.filter(wave=wave), Status.PENDING)
    _send_all(campaign, targets)
    return True


def _ready(
    campaign: FirmwareCampaign, pending: QuerySet[CampaignTarget], now: datetime
) -> list[CampaignTarget]:
    """The next wave: pending chargers not charging anyone now (and in a maintenance
    window, if the campaign asks for one), at most `wave_size`."""
    busy = ChargingSession.objects.filter(status=ChargingSession.Status.ACTIVE).values(
        "charge_point_id"
    )
    candidates = pending.exclude(charge_point_id__in=busy).select_related("charge_point")
    chosen = []
    for target in candidates.order_by("charge_point__charge_point_id"):
        if (
            campaign.only_in_maintenance_window
            and not windows_covering(target.charge_point, now).exists()
        ):
            continue
        chosen.append(target)
        if len(chosen) == campaign.wave_size:
            break
    return chosen


def _claim(targets: QuerySet[CampaignTarget], status: str) -> list[CampaignTarget]:
    """Targets moved from `status` to Sent by this process (one conditional UPDATE each)."""
    claimed = []
    for target in targets.filter(status=status).select_related("charge_point"):
        if CampaignTarget.objects.filter(pk=target.pk, status=status).update(
            status=Status.SENT,
            attempts=F("attempts") + 1,
            sent_at=timezone.now(),
            updated_at=timezone.now(),
        ):
            target.refresh_from_db()
            claimed.append(target)
    return claimed


def _send_all(campaign: FirmwareCampaign, targets: list[CampaignTarget]) -> None:
    if targets:
        batches.in_parallel(lambda target: _send(campaign, target), targets)


def _send(campaign: FirmwareCampaign, target: CampaignTarget) -> None:
    """UpdateFirmware (or SignedUpdateFirmware) to one charger; a command that fails or a
    signed update refused counts as a failure of the update."""
    firmware = campaign.firmware
    charge_point_id = target.charge_point.charge_point_id
    try:
        if campaign.signed:
            answer = operations.signed_update_firmware(
                charge_point_id,
                target.pk,
                firmware_location(firmware),
                timezone.now(),
                firmware.signing_certificate,
                firmware.signature,
                issued_by=campaign.started_by or campaign.created_by,
                source=SOURCE,
            )
            if answer.status not in ("Accepted", "AcceptedCanceled"):
                _failed(target, str(answer.status))
        else:
            operations.update_firmware(
                charge_point_id,
                firmware_location(firmware),
                timezone.now(),
                issued_by=campaign.started_by or campaign.created_by,
                source=SOURCE,
            )
    except commands.CommandError as error:
        _failed(target, operations.command_failure(error).message)
    except Exception:
        logger.exception("Campaign %s: sending to %s failed", campaign.pk, charge_point_id)
        _failed(target, _("The command could not be sent."))
    finally:
        connections.close_all()  # a thread of the pool: its connection ends with it


def progress(campaign: FirmwareCampaign) -> dict[str, object]:
    """What the live progress page shows (the shape of stations.batches.progress())."""
    targets = list(campaign.targets.select_related("charge_point"))
    counts = dict.fromkeys(Status.values, 0)
    for target in targets:
        counts[target.status] += 1
    state = FirmwareCampaign.Status(campaign.status)
    return {
        "title": campaign.name,
        "state": str(state.label),
        "stop_reason": campaign.stop_reason,
        "finished": state in (FirmwareCampaign.Status.STOPPED, FirmwareCampaign.Status.FINISHED),
        "counts": [
            {"status": status.value, "label": str(status.label), "count": counts[status]}
            for status in Status
        ],
        "items": [
            {
                "charge_point": target.charge_point.charge_point_id,
                "wave": target.wave,
                "status": target.status,
                "status_label": str(Status(target.status).label),
                "message": target.message,
            }
            for target in targets
        ],
    }


def history(charge_point: ChargePoint) -> QuerySet[FirmwareStatusEvent]:
    """Every firmware status the charger reported, newest first."""
    return FirmwareStatusEvent.objects.filter(charge_point=charge_point)
