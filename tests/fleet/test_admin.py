"""Fleet's admin pages: a campaign's progress, the diagnostics list with download, the
request form's answer for an offline charger."""

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from fleet import campaigns
from fleet.models import DiagnosticsUpload, FirmwareCampaign, FirmwareImage
from stations.models import DiagnosticsStatusEvent
from tests.conftest import register


@pytest.fixture
def staff(make_user) -> Client:
    client = Client()
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_running_campaign_page_shows_each_charger_and_its_progress_as_json(staff):
    for charge_point_id in ("ADM-FW-1", "ADM-FW-2"):
        register(charge_point_id, model="Sim-22")
    firmware = FirmwareImage.objects.create(
        version="9",
        charger_models="Sim-22",
        url="https://vendor.example/fw.bin",
        expires_at=timezone.now() + timedelta(days=1),
    )
    campaign = FirmwareCampaign.objects.create(name="Page", firmware=firmware)
    campaigns.start(campaign)

    page = staff.get(f"/admin/fleet/firmwarecampaign/{campaign.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-charge-point="ADM-FW-1"' in html and 'data-charge-point="ADM-FW-2"' in html
    assert "stations/batch_progress.js" in html
    progress = json.loads(
        staff.get(f"/admin/fleet/firmwarecampaign/{campaign.pk}/progress/").content
    )
    assert progress["finished"] is False
    assert [item["status"] for item in progress["items"]] == ["pending", "pending"]


@pytest.mark.django_db
def test_uploaded_diagnostics_are_listed_with_a_download_and_their_status_history(staff):
    charge_point = register("ADM-DIAG")
    upload = DiagnosticsUpload.objects.create(
        charge_point=charge_point,
        kind="diagnostics",
        expires_at=timezone.now() + timedelta(hours=1),
        used_at=timezone.now(),
        file_name="diag.zip",
        size=4,
    )
    upload.file.save("diag.zip", ContentFile(b"PK.."))
    DiagnosticsStatusEvent.objects.create(
        charge_point=charge_point, kind="diagnostics", status="Uploaded"
    )
    listing = staff.get("/admin/fleet/diagnosticsupload/").content.decode()
    download = f"/admin/fleet/diagnosticsupload/{upload.pk}/download/"
    assert f'<a href="{download}">diag.zip</a>' in listing
    response = staff.get(download)
    assert b"".join(response.streaming_content) == b"PK.."
    assert 'filename="diag.zip"' in response["Content-Disposition"]
    detail = staff.get(f"/admin/fleet/diagnosticsupload/{upload.pk}/change/").content.decode()
    assert "Uploaded" in detail


@pytest.mark.django_db(transaction=True)  # the command's database work runs in threads
def test_requesting_diagnostics_of_an_offline_charger_says_so(staff):
    charge_point = register("ADM-DIAG-OFF")
    response = staff.post(
        "/admin/fleet/diagnosticsupload/request/",
        {"charge_point": charge_point.pk, "kind": "SecurityLog"},
        follow=True,
    )
    assert "The charger is offline right now." in response.content.decode()
    # The attempt is on record, with no file.
    assert DiagnosticsUpload.objects.get(charge_point=charge_point).used_at is None


@pytest.mark.django_db
def test_a_campaign_for_chargers_of_a_model_the_firmware_is_not_for_is_refused(staff):
    right = register("ADM-SEL-1", model="Sim-22")
    wrong = register("ADM-SEL-2", model="Other-7")
    firmware = FirmwareImage.objects.create(
        version="9",
        charger_models="Sim-22",
        url="https://vendor.example/fw.bin",
        expires_at=timezone.now() + timedelta(days=1),
    )
    form = {
        "name": "Mixed",
        "firmware": firmware.pk,
        "wave_size": 10,
        "wave_pause_minutes": 30,
        "max_failure_percent": 20,
    }

    refused = staff.post(
        "/admin/fleet/firmwarecampaign/add/", {**form, "charge_points": [right.pk, wrong.pk]}
    )
    assert refused.status_code == 200
    assert "ADM-SEL-2: not a model this firmware is for (Sim-22)." in refused.content.decode()
    by_model = staff.post(
        "/admin/fleet/firmwarecampaign/add/", {**form, "charger_model": "Other-7"}
    )
    assert "This firmware is for Sim-22 only." in by_model.content.decode()
    assert not FirmwareCampaign.objects.exists()

    taken = staff.post("/admin/fleet/firmwarecampaign/add/", {**form, "charge_points": [right.pk]})
    assert taken.status_code == 302
    assert list(FirmwareCampaign.objects.get().charge_points.all()) == [right]


@pytest.mark.django_db
def test_a_campaign_does_not_start_with_an_expired_firmware_link_or_a_changed_file(staff):
    register("ADM-OLD-1", model="Sim-22")
    firmware = FirmwareImage(
        version="8",
        charger_models="Sim-22",
        expires_at=timezone.now(),
        sha256=hashlib.sha256(b"image").hexdigest(),
    )
    firmware.file.save("sim-8.bin", ContentFile(b"image"), save=False)
    firmware.save()
    campaign = FirmwareCampaign.objects.create(name="Late", firmware=firmware)
    action = {"action": "start_campaigns", "_selected_action": [campaign.pk]}

    refused = staff.post("/admin/fleet/firmwarecampaign/", action, follow=True)
    assert "Late: The link of firmware 8 (Sim-22) expired at" in refused.content.decode()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.targets.count()) == (FirmwareCampaign.Status.DRAFT, 0)

    FirmwareImage.objects.filter(pk=firmware.pk).update(
        expires_at=timezone.now() + timedelta(days=1)
    )
    # The stored file is not the one whose hash was checked on upload.
    Path(firmware.file.path).write_bytes(b"imagf")
    changed = staff.post("/admin/fleet/firmwarecampaign/", action, follow=True)
    assert (
        "Late: The stored file of firmware 8 (Sim-22) is missing or no longer has its SHA-256"
        in changed.content.decode()
    )
    assert FirmwareCampaign.objects.get(pk=campaign.pk).status == FirmwareCampaign.Status.DRAFT

    Path(firmware.file.path).write_bytes(b"image")
    started = staff.post("/admin/fleet/firmwarecampaign/", action, follow=True)
    assert "Late started for 1 chargers." in started.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == FirmwareCampaign.Status.RUNNING
