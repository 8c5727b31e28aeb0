"""Firmware campaigns (fleet/campaigns.py) with simulated 1.6 chargers over WebSocket:
waves, FirmwareStatusNotification followed per charger, a failure retried once, the
automatic stop when a wave fails too much."""

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.utils import timezone
from ocpp.v16 import call

from fleet import campaigns
from fleet.models import CampaignTarget, FirmwareCampaign, FirmwareImage
from operations.models import MaintenanceWindow
from stations.models import ChargingSession, Connector, FirmwareStatusEvent, Site
from tests.charger import SimulatedCharger
from tests.charger import now as charger_now
from tests.conftest import eventually, register
from tests.fleet.conftest import PUBLIC_URL

Status = CampaignTarget.Status
SUCCESS = ["Downloading", "Downloaded", "Installing", "Installed"]


def _firmware(**fields: object) -> FirmwareImage:
    image = FirmwareImage(
        version="2.0.0",
        charger_models="Sim-22",
        expires_at=timezone.now() + timedelta(days=1),
        **fields,
    )
    image.file.save("sim-2.0.0.bin", ContentFile(b"firmware image"), save=False)
    image.save()
    return image


async def _follow_updates(cp: SimulatedCharger, failures: int) -> None:
    """Behave as a charger: each UpdateFirmware is downloaded and installed, except the
    first `failures`, whose download fails."""
    handled = 0
    while True:
        await eventually(lambda seen=handled: len(_updates(cp)) > seen, timeout=3600)
        handled += 1
        statuses = ["Downloading", "DownloadFailed"] if handled <= failures else SUCCESS
        for status in statuses:
            await cp.call(call.FirmwareStatusNotification(status=status))


async def _booted(
    stack: AsyncExitStack, charger: Any, server: str, ids: list[str]
) -> dict[str, SimulatedCharger]:
    """These chargers connected (until `stack` closes) and booted as Sim-22s."""
    chargers = {}
    for charge_point_id in ids:
        cp = await stack.enter_async_context(charger(charge_point_id, server=server))
        await cp.boot(model="Sim-22")
        chargers[charge_point_id] = cp
    return chargers


def _updates(cp: SimulatedCharger) -> list[dict]:
    return [kwargs for action, kwargs in cp.received if action == "UpdateFirmware"]


async def test_campaign_of_20_chargers_in_waves_retries_once_and_stops_when_a_wave_fails(
    charger, fleet_server
):
    site = await sync_to_async(Site.objects.create)(name="Fleet depot")
    ids = [f"FW-{number:02d}" for number in range(1, 21)]
    for charge_point_id in ids:
        await sync_to_async(register)(charge_point_id, site=site, model="Sim-22")
    firmware = await sync_to_async(_firmware)()
    campaign = await sync_to_async(FirmwareCampaign.objects.create)(
        name="Sim 2.0.0",
        firmware=firmware,
        site=site,
        wave_size=5,
        wave_pause_minutes=0,
        max_failure_percent=25,
    )
    # FW-02 fails once and installs on the retry; FW-07 and FW-09 fail twice: wave 2
    # (FW-06..10) has 2 of 5 failed, 40 % > 25 %, and the campaign stops.
    failures = {"FW-02": 1, "FW-07": 2, "FW-09": 2}
    async with AsyncExitStack() as stack:
        chargers = await _booted(stack, charger, fleet_server, ids)
        behaviours = [
            asyncio.create_task(_follow_updates(cp, failures.get(cp_id, 0)))
            for cp_id, cp in chargers.items()
        ]
        try:
            assert await sync_to_async(campaigns.start)(campaign) == 20
            # What the admin's Start queues; the server's receivers move it on from here.
            await sync_to_async(campaigns.advance)(campaign.pk)

            def stopped() -> FirmwareCampaign | None:
                found = FirmwareCampaign.objects.get(pk=campaign.pk)
                return found if found.status == FirmwareCampaign.Status.STOPPED else None

            ended = await eventually(stopped, timeout=60)
            assert ended, await sync_to_async(campaigns.progress)(campaign)
        finally:
            for task in behaviours:
                task.cancel()

    assert ended.current_wave == 2
    assert "Wave 2: 2 of 5 chargers failed" in ended.stop_reason

    def outcome() -> dict[str, tuple[int | None, str, int]]:
        return {
            t.charge_point.charge_point_id: (t.wave, t.status, t.attempts)
            for t in CampaignTarget.objects.filter(campaign=campaign).select_related("charge_point")
        }

    targets = await sync_to_async(outcome)()
    for charge_point_id in ["FW-01", "FW-03", "FW-04", "FW-05"]:
        assert targets[charge_point_id] == (1, Status.INSTALLED, 1)
    assert targets["FW-02"] == (1, Status.INSTALLED, 2)
    for charge_point_id in ["FW-06", "FW-08", "FW-10"]:
        assert targets[charge_point_id] == (2, Status.INSTALLED, 1)
    for charge_point_id in ["FW-07", "FW-09"]:
        assert targets[charge_point_id] == (2, Status.FAILED, 2)
    for charge_point_id in ids[10:]:
        assert targets[charge_point_id] == (None, Status.NOT_SENT, 0)
        assert _updates(chargers[charge_point_id]) == []

    # Each charger was sent the update once per attempt, at our unguessable URL.
    assert len(_updates(chargers["FW-02"])) == 2
    assert len(_updates(chargers["FW-07"])) == 2
    location = _updates(chargers["FW-01"])[0]["location"]
    name = firmware.file.name.rsplit("/", 1)[-1]  # sim-2.0.0.bin, or with a suffix
    assert location == f"{PUBLIC_URL}/fleet/firmware/{firmware.token}/{name}"

    # The whole history is kept, not only the latest status.
    history = await sync_to_async(list)(
        FirmwareStatusEvent.objects.filter(charge_point__charge_point_id="FW-02")
        .order_by("id")
        .values_list("status", flat=True)
    )
    assert history == ["Downloading", "DownloadFailed", *SUCCESS]


CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


async def test_signed_campaign_sends_signed_update_firmware_and_follows_its_signed_status(
    charger, fleet_server
):
    """Whitepaper ed. 3 use case L01: SignedUpdateFirmware with certificate and signature;
    SignedFirmwareStatusNotification (with the requestId) moves the charger on."""
    await sync_to_async(register)("FW-SIGNED", model="Sim-22")
    firmware = await sync_to_async(_firmware)(signing_certificate=CERTIFICATE, signature="c2ln")
    campaign = await sync_to_async(FirmwareCampaign.objects.create)(
        name="Signed", firmware=firmware, wave_size=1, wave_pause_minutes=0, signed=True
    )
    async with charger("FW-SIGNED", server=fleet_server) as cp:
        await cp.boot(model="Sim-22")
        assert await sync_to_async(campaigns.start)(campaign) == 1
        await sync_to_async(campaigns.advance)(campaign.pk)
        [(_action, asked)] = [r for r in cp.received if r[0] == "SignedUpdateFirmware"]
        target = await sync_to_async(CampaignTarget.objects.get)(campaign=campaign)
        assert asked["request_id"] == target.pk
        assert asked["firmware"]["signing_certificate"] == CERTIFICATE
        assert asked["firmware"]["signature"] == "c2ln"
        assert f"/fleet/firmware/{firmware.token}/" in asked["firmware"]["location"]
        for status in ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]:
            await cp.call(
                call.SignedFirmwareStatusNotification(status=status, request_id=target.pk)
            )

        def finished() -> bool:
            return FirmwareCampaign.objects.get(pk=campaign.pk).status == "finished"

        assert await eventually(finished, timeout=20)
    target = await sync_to_async(CampaignTarget.objects.get)(campaign=campaign)
    assert (target.status, target.attempts) == (Status.INSTALLED, 1)


@pytest.mark.django_db
def test_a_wave_skips_chargers_with_a_running_session_and_keeps_to_maintenance_windows():
    site = Site.objects.create(name="Wave rules")
    busy, idle, serviced = (
        register(f"FW-RULE-{name}", site=site, model="Sim-22") for name in ("A", "B", "C")
    )
    connector = Connector.objects.create(charge_point=busy, connector_id=1)
    ChargingSession.objects.create(
        charge_point=busy,
        connector=connector,
        id_tag="TAG",
        started_at=timezone.now(),
        meter_start_wh=0,
    )
    now = timezone.now()
    MaintenanceWindow.objects.create(
        charge_point=serviced,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        reason="Firmware",
    )
    campaign = FirmwareCampaign.objects.create(
        name="Rules", firmware=_firmware(), site=site, wave_size=10
    )
    campaigns.start(campaign)
    pending = campaign.targets.filter(status=Status.PENDING)

    chosen = campaigns._ready(campaign, pending, now)
    assert [t.charge_point for t in chosen] == [idle, serviced]
    campaign.only_in_maintenance_window = True
    assert [t.charge_point for t in campaigns._ready(campaign, pending, now)] == [serviced]


async def test_the_next_wave_waits_for_its_pause_and_for_a_charging_charger_to_be_free(
    charger, fleet_server
):
    """FW-WAIT-A is charging when the campaign starts: the first wave goes to the two
    idle chargers; the next waits for the pause, then for A's session to end."""
    site = await sync_to_async(Site.objects.create)(name="Pause depot")
    ids = ["FW-WAIT-A", "FW-WAIT-B", "FW-WAIT-C"]
    for charge_point_id in ids:
        await sync_to_async(register)(charge_point_id, site=site, model="Sim-22")
    firmware = await sync_to_async(_firmware)()
    campaign = await sync_to_async(FirmwareCampaign.objects.create)(
        name="Paused", firmware=firmware, site=site, wave_size=2, wave_pause_minutes=30
    )

    def current() -> FirmwareCampaign:
        return FirmwareCampaign.objects.get(pk=campaign.pk)

    async with AsyncExitStack() as stack:
        chargers = await _booted(stack, charger, fleet_server, ids)
        busy = chargers["FW-WAIT-A"]
        started = await busy.call(
            call.StartTransaction(
                connector_id=1, id_tag="WAIT-TAG", meter_start=0, timestamp=charger_now()
            )
        )
        behaviours = [asyncio.create_task(_follow_updates(cp, 0)) for cp in chargers.values()]
        try:
            assert await sync_to_async(campaigns.start)(campaign) == 3
            await sync_to_async(campaigns.advance)(campaign.pk)
            assert [_updates(chargers[cp_id]) != [] for cp_id in ids] == [False, True, True]

            # Wave 1 installed: the next wave is due after the pause, not before.
            pausing = await eventually(lambda: (c := current()).next_wave_at and c, timeout=20)
            assert pausing.current_wave == 1
            pause = pausing.next_wave_at - timezone.now()
            assert timedelta(minutes=29) < pause <= timedelta(minutes=30)
            after_pause = pausing.next_wave_at + timedelta(minutes=1)
            await sync_to_async(campaigns.advance)(campaign.pk)
            # The pause is over but A still charges: it waits.
            await sync_to_async(campaigns.advance)(campaign.pk, after_pause)
            assert _updates(busy) == []
            assert (await sync_to_async(current)()).current_wave == 1

            await busy.call(
                call.StopTransaction(
                    meter_stop=1000,
                    timestamp=charger_now(),
                    transaction_id=started.transaction_id,
                    reason="Local",
                )
            )
            await sync_to_async(campaigns.advance)(campaign.pk, after_pause)
            assert len(_updates(busy)) == 1
            finished = await eventually(
                lambda: (c := current()).status == FirmwareCampaign.Status.FINISHED and c,
                timeout=20,
            )
        finally:
            for task in behaviours:
                task.cancel()
    assert finished.current_wave == 2
    waves = await sync_to_async(dict)(
        CampaignTarget.objects.filter(campaign=campaign).values_list(
            "charge_point__charge_point_id", "wave"
        )
    )
    assert waves == {"FW-WAIT-A": 2, "FW-WAIT-B": 1, "FW-WAIT-C": 1}


@pytest.mark.django_db
def test_a_campaign_picks_chargers_by_site_model_and_current_firmware_or_an_explicit_list():
    north, south = Site.objects.create(name="North"), Site.objects.create(name="South")
    old_north = register("SEL-1", site=north, model="Sim-22", firmware_version="1.0")
    new_north = register("SEL-2", site=north, model="Sim-22", firmware_version="2.0")
    old_south = register("SEL-3", site=south, model="Sim-22", firmware_version="1.0")
    register("SEL-4", site=north, model="Other", firmware_version="1.0")  # not its model
    register("SEL-5", site=north, model="Sim-22", registration_status="Pending")
    firmware = _firmware()

    def picked(**fields: object) -> list[str]:
        campaign = FirmwareCampaign.objects.create(name="Pick", firmware=firmware, **fields)
        return sorted(selection.charge_point_id for selection in campaigns.selection(campaign))

    assert picked() == ["SEL-1", "SEL-2", "SEL-3"]
    assert picked(site=north) == ["SEL-1", "SEL-2"]
    assert picked(charger_model="Sim-22", current_firmware="1.0") == ["SEL-1", "SEL-3"]
    assert picked(site=north, current_firmware="1.0") == ["SEL-1"]
    assert picked(charger_model="Other") == []  # the firmware is not for that model

    explicit = FirmwareCampaign.objects.create(name="List", firmware=firmware, site=south)
    explicit.charge_points.set([old_north, new_north])
    assert list(campaigns.selection(explicit).order_by("charge_point_id")) == [
        old_north,
        new_north,
    ]
    assert old_south not in campaigns.selection(explicit)

    # A charger listed before its model changed (or by a draft older than the form's
    # check) is still left out: the image is not for it.
    new_north.model = "Other"
    new_north.save()
    assert list(campaigns.selection(explicit)) == [old_north]
