"""The HTTP doors chargers use: firmware downloads and diagnostics uploads.

No login: the unguessable token in the URL is the credential (chargers cannot log in).
"""

from http import HTTPStatus

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from chargehub.request_text import UNREADABLE_MULTIPART
from fleet import diagnostics
from fleet.models import FirmwareImage


@require_http_methods(["GET", "HEAD"])
def firmware(request: HttpRequest, token: str, name: str) -> HttpResponse:
    """The firmware file, until its link expires (410 after)."""
    image = get_object_or_404(FirmwareImage, token=token)
    if not image.file:
        return HttpResponse(_("This firmware is not stored here."), status=HTTPStatus.NOT_FOUND)
    if image.expires_at <= timezone.now():
        return HttpResponse(_("This firmware link has expired."), status=HTTPStatus.GONE)
    response = FileResponse(image.file.open("rb"), content_type="application/octet-stream")
    if image.sha256:
        # RFC 9530 would be the digest's header; chargers that check read this older one.
        response["X-Checksum-SHA256"] = image.sha256
    return response


@csrf_exempt
@require_http_methods(["PUT", "POST"])
def upload(request: HttpRequest, token: str, name: str = "") -> HttpResponse:
    """A charger's diagnostics or log upload: PUT or POST, raw or multipart/form-data."""
    length = request.META.get("CONTENT_LENGTH") or ""
    declared = int(length) if length.isdigit() else None
    if declared is not None and declared > settings.FLEET_UPLOAD_MAX_BYTES:
        # Refused before Django reads (and spools) the body.
        stream = None
    elif request.content_type == "multipart/form-data":
        # Django parses a POST's parts itself; a PUT's only when asked.
        try:
            files = (
                request.FILES
                if request.method == "POST"
                else request.parse_file_upload(request.META, request)[1]
            )
        except MultiPartParserError:
            return HttpResponse(
                UNREADABLE_MULTIPART,
                status=HTTPStatus.BAD_REQUEST,
                content_type="text/plain",
            )
        part = next(iter(files.values()), None)
        stream, name = (part, part.name) if part is not None else (None, name)
    else:
        stream = request
    try:
        stored = diagnostics.receive(token, name, stream, declared)
    except diagnostics.Refusal as refusal:
        return HttpResponse(refusal.message, status=refusal.status, content_type="text/plain")
    return HttpResponse(
        _("Stored %(name)s.") % {"name": stored.file_name},
        status=HTTPStatus.CREATED,
        content_type="text/plain",
    )
