"""Firmware served at an unguessable, expiring URL with its hash checked on upload; an
upload link past its time (fleet/views.py, fleet/admin.py)."""

import hashlib
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from fleet.models import DiagnosticsUpload, FirmwareImage
from tests.conftest import register

IMAGE = b"\x7fELF firmware 2.1"


def _image(expires_in: timedelta) -> FirmwareImage:
    image = FirmwareImage(
        version="2.1", charger_models="Sim-22", expires_at=timezone.now() + expires_in
    )
    image.file.save("sim-2.1.bin", ContentFile(IMAGE), save=False)
    image.sha256 = hashlib.sha256(IMAGE).hexdigest()
    image.save()
    return image


@pytest.mark.django_db
def test_firmware_is_served_at_its_token_url_until_the_link_expires():
    image = _image(timedelta(hours=1))
    url = f"/fleet/firmware/{image.token}/sim-2.1.bin"
    response = Client().get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == IMAGE
    assert response["X-Checksum-SHA256"] == hashlib.sha256(IMAGE).hexdigest()
    assert len(image.token) >= 43  # 256 bits
    assert Client().get(url.replace(image.token, "guessed")).status_code == 404

    FirmwareImage.objects.filter(pk=image.pk).update(expires_at=timezone.now())
    expired = Client().get(url)
    assert (expired.status_code, expired.content) == (410, b"This firmware link has expired.")


@pytest.mark.django_db
def test_admin_upload_checks_the_hash_given_and_computes_it_otherwise(make_user):
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    expires = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d")
    form = {
        "version": "3.0",
        "charger_models": "Sim-22",
        "expires_at_0": expires,
        "expires_at_1": "12:00:00",
    }
    wrong = client.post(
        "/admin/fleet/firmwareimage/add/",
        {**form, "sha256": "0" * 64, "file": SimpleUploadedFile("fw.bin", IMAGE)},
    )
    assert wrong.status_code == 200
    assert "The file&#x27;s SHA-256 is" in wrong.content.decode()
    assert not FirmwareImage.objects.exists()

    right = client.post(
        "/admin/fleet/firmwareimage/add/", {**form, "file": SimpleUploadedFile("fw.bin", IMAGE)}
    )
    assert right.status_code == 302, right.content.decode()[:2000]
    image = FirmwareImage.objects.get()
    assert (image.sha256, image.size) == (hashlib.sha256(IMAGE).hexdigest(), len(IMAGE))


@pytest.mark.django_db
def test_upload_link_past_its_time_is_refused():
    upload = DiagnosticsUpload.objects.create(
        charge_point=register("DIAG-OLD"), kind="diagnostics", expires_at=timezone.now()
    )
    response = Client().put(
        f"/fleet/upload/{upload.token}/", b"late", content_type="application/octet-stream"
    )
    assert (response.status_code, response.content) == (410, b"This upload link has expired.")
    upload.refresh_from_db()
    assert upload.used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put"])
def test_upload_that_is_not_valid_multipart_is_refused_with_a_clear_answer(method):
    upload = DiagnosticsUpload.objects.create(
        charge_point=register(f"DIAG-BAD-{method}"),
        kind="diagnostics",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    response = getattr(Client(), method)(
        f"/fleet/upload/{upload.token}/", b"no parts", content_type="multipart/form-data"
    )
    assert (response.status_code, response.content) == (
        400,
        b"The body is not valid multipart/form-data.",
    )
    upload.refresh_from_db()
    assert upload.used_at is None
