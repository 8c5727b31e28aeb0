"""Diagnostics and logs: asking a charger for them, and receiving its upload.

ChargeHub is the upload server itself: GetDiagnostics (OCPP 1.6 §5.9) and GetLog
(security whitepaper ed. 3 §4.2) name an HTTP(S) URL of ours with a one-time token. The
charger PUTs or POSTs the file there (raw, or multipart/form-data as many do); the
first upload within FLEET_UPLOAD_TOKEN_HOURS is stored, up to FLEET_UPLOAD_MAX_BYTES;
anything else is refused with a clear status.
"""

from datetime import timedelta
from http import HTTPStatus
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from fleet.models import DiagnosticsUpload
from stations import operations
from stations.models import ChargePoint, DiagnosticsStatusEvent

SOURCE = "diagnostics"
CHUNK = 64 * 1024


def upload_location(upload: DiagnosticsUpload) -> str:
    """The URL the charger uploads to (the token is the only credential)."""
    path = reverse("fleet:upload", kwargs={"token": upload.token})
    return settings.FLEET_PUBLIC_URL.rstrip("/") + path


def request(charge_point: ChargePoint, kind: str, *, issued_by: Any = None) -> DiagnosticsUpload:
    """Ask the charger for its diagnostics or a log; returns the upload waiting for it.

    A CommandError propagates (the caller says what it means); the upload row stays,
    with no file, so the attempt is on record.
    """
    user = issued_by if getattr(issued_by, "is_authenticated", False) else None
    upload = DiagnosticsUpload.objects.create(
        charge_point=charge_point,
        kind=kind,
        requested_by=user,
        expires_at=timezone.now() + timedelta(hours=settings.FLEET_UPLOAD_TOKEN_HOURS),
    )
    location = upload_location(upload)
    if kind == DiagnosticsUpload.Kind.DIAGNOSTICS:
        answer = operations.get_diagnostics(
            charge_point.charge_point_id, location, issued_by=issued_by, source=SOURCE
        )
        upload.answer = answer.file_name or ""
    else:
        answer = operations.get_log(
            charge_point.charge_point_id,
            kind,
            upload.pk,
            location,
            issued_by=issued_by,
            source=SOURCE,
        )
        upload.answer = " ".join(part for part in (answer.status, answer.filename or "") if part)
    upload.save(update_fields=["answer"])
    return upload


class Refusal(Exception):
    """An upload refused: the HTTP status and the message the charger's log shows."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def receive(
    token: str, name: str, stream: IO[bytes] | None, declared_length: int | None
) -> DiagnosticsUpload:
    """Store an upload for the token; raise Refusal when it cannot be taken.

    `stream` is the file (a multipart part or the raw body). The size is checked on the
    declared length first and then on what is actually read, so a body without a length
    cannot pass the limit either. The token is spent in the same transaction that stores
    the file: a failed upload can be sent again.
    """
    limit = settings.FLEET_UPLOAD_MAX_BYTES
    upload = DiagnosticsUpload.objects.filter(token=token).first()
    if upload is None:
        raise Refusal(HTTPStatus.NOT_FOUND, _("This upload link is not valid."))
    if upload.used_at is not None:
        raise Refusal(HTTPStatus.GONE, _("This upload link was already used."))
    if upload.expires_at <= timezone.now():
        raise Refusal(HTTPStatus.GONE, _("This upload link has expired."))
    if declared_length is not None and declared_length > limit:
        raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(limit))
    if stream is None:
        raise Refusal(HTTPStatus.BAD_REQUEST, _("The upload holds no file."))
    content = bytearray()
    while chunk := stream.read(CHUNK):
        content += chunk
        if len(content) > limit:
            raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _too_large(limit))
    if not content:
        raise Refusal(HTTPStatus.BAD_REQUEST, _("The upload holds no file."))
    file_name = get_valid_filename(name.rsplit("/", 1)[-1])[:200] if name else ""
    file_name = file_name or f"{upload.charge_point_id}-{upload.kind}.bin"
    with transaction.atomic():
        spent = DiagnosticsUpload.objects.filter(pk=upload.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if not spent:
            raise Refusal(HTTPStatus.GONE, _("This upload link was already used."))
        upload.refresh_from_db()
        upload.file_name = file_name
        upload.size = len(content)
        upload.file.save(file_name, File(ContentFile(bytes(content))), save=False)
        upload.save(update_fields=["file", "file_name", "size"])
    return upload


def _too_large(limit: int) -> str:
    return _("The upload is larger than %(limit)d bytes.") % {"limit": limit}


def history(upload: DiagnosticsUpload) -> QuerySet[DiagnosticsStatusEvent]:
    """The status notifications about this upload (since it was asked for), newest first."""
    events = DiagnosticsStatusEvent.objects.filter(
        charge_point_id=upload.charge_point_id,
        kind=upload.status_kind,
        received_at__gte=upload.requested_at,
    )
    if upload.kind != DiagnosticsUpload.Kind.DIAGNOSTICS:
        events = events.filter(request_id=upload.pk)
    return events
