"""Diagnostics and logs (fleet/diagnostics.py): GetDiagnostics and GetLog to a simulated
1.6 charger over WebSocket, which uploads to ChargeHub's own HTTP endpoint with the
one-time token it was given."""

import asyncio
import urllib.error
import urllib.request
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from ocpp.v16 import call

from fleet import diagnostics
from fleet.models import DiagnosticsUpload
from stations.models import ChargePoint
from tests.fleet.conftest import UPLOAD_LIMIT


def _http(server: str) -> str:
    return server.replace("ws://", "http://")


async def _send_file(
    url: str, body: bytes, method: str = "PUT", content_type: str = "application/octet-stream"
) -> tuple[int, str]:
    """An upload as a charger makes it; (HTTP status, the answer's text)."""

    def send() -> tuple[int, str]:
        request = urllib.request.Request(
            url, data=body, method=method, headers={"Content-Type": content_type}
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    return await asyncio.to_thread(send)


def _multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/zip\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _stored(pk: int) -> DiagnosticsUpload:
    return DiagnosticsUpload.objects.get(pk=pk)


def _read(upload: DiagnosticsUpload) -> bytes:
    with upload.file.open("rb") as file:
        return file.read()


async def test_diagnostics_upload_reaches_the_endpoint_once_and_other_tokens_are_refused(
    charger, fleet_server
):
    content = b"PK\x03\x04 diagnostics of the charger"
    with override_settings(FLEET_PUBLIC_URL=_http(fleet_server)):
        async with charger("DIAG-1", server=fleet_server) as cp:
            await cp.boot()
            charge_point = await sync_to_async(ChargePoint.objects.get)(charge_point_id="DIAG-1")
            upload = await sync_to_async(diagnostics.request)(charge_point, "diagnostics")
            [(_action, asked)] = [r for r in cp.received if r[0] == "GetDiagnostics"]
            location = asked["location"]
            assert location == f"{_http(fleet_server)}/fleet/upload/{upload.token}/"
            assert upload.answer == "diagnostics-0001.zip"  # the file name it announced

            await cp.call(call.DiagnosticsStatusNotification(status="Uploading"))
            # Chargers add the file name to the location they were given.
            assert await _send_file(location + "diagnostics-0001.zip", content) == (
                201,
                "Stored diagnostics-0001.zip.",
            )
            await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))

            # The same link again: refused, the first file kept.
            status, text = await _send_file(location, b"something else")
            assert (status, text) == (410, "This upload link was already used.")
            # A token nobody was given.
            wrong = location.replace(upload.token, upload.token[:-4] + "AAAA")
            assert (await _send_file(wrong, content))[0] == 404

    stored = await sync_to_async(_stored)(upload.pk)
    assert stored.file_name == "diagnostics-0001.zip"
    assert stored.size == len(content)
    assert stored.used_at is not None
    assert await sync_to_async(_read)(stored) == content
    history = await sync_to_async(list)(
        diagnostics.history(stored).order_by("id").values_list("status", flat=True)
    )
    assert history == ["Uploading", "Uploaded"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_get_log_upload_as_multipart_is_stored_with_its_log_status(
    charger, fleet_server, method
):
    content = b"2026-12-07T00:00:00Z SettingSystemTime\n"
    with override_settings(FLEET_PUBLIC_URL=_http(fleet_server)):
        async with charger(f"DIAG-LOG-{method}", server=fleet_server) as cp:
            await cp.boot()
            charge_point = await sync_to_async(ChargePoint.objects.get)(
                charge_point_id=f"DIAG-LOG-{method}"
            )
            upload = await sync_to_async(diagnostics.request)(charge_point, "SecurityLog")
            [(_action, asked)] = [r for r in cp.received if r[0] == "GetLog"]
            assert asked["log_type"] == "SecurityLog"
            assert asked["request_id"] == upload.pk
            await cp.call(call.LogStatusNotification(status="Uploading", request_id=upload.pk))
            body, content_type = _multipart("security.log", content)
            status, _ = await _send_file(
                asked["log"]["remote_location"], body, method, content_type
            )
            assert status == 201
            await cp.call(call.LogStatusNotification(status="Uploaded", request_id=upload.pk))

    stored = await sync_to_async(_stored)(upload.pk)
    assert (stored.file_name, stored.answer) == ("security.log", "Accepted log-0001.zip")
    assert await sync_to_async(_read)(stored) == content
    history = await sync_to_async(list)(
        diagnostics.history(stored).order_by("id").values_list("status", flat=True)
    )
    assert history == ["Uploading", "Uploaded"]


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_upload_over_the_size_limit_is_refused_and_the_link_still_works(
    charger, fleet_server, method
):
    with override_settings(FLEET_PUBLIC_URL=_http(fleet_server)):
        async with charger(f"DIAG-BIG-{method}", server=fleet_server) as cp:
            await cp.boot()
            charge_point = await sync_to_async(ChargePoint.objects.get)(
                charge_point_id=f"DIAG-BIG-{method}"
            )
            upload = await sync_to_async(diagnostics.request)(charge_point, "diagnostics")
    location = diagnostics.upload_location(upload).replace(
        "https://chargehub.test", _http(fleet_server)
    )
    status, text = await _send_file(location, b"x" * (UPLOAD_LIMIT + 1), method)
    assert (status, text) == (413, f"The upload is larger than {UPLOAD_LIMIT} bytes.")
    assert (await sync_to_async(_stored)(upload.pk)).used_at is None
    assert (await _send_file(location, b"x" * UPLOAD_LIMIT, method))[0] == 201
