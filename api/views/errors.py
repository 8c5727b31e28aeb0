"""The API's errors as HTTP answers: a command the charger did not answer as asked, an
address no route matches."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response

from chargehub.request_text import API_PREFIX
from stations import operations
from stations.ocpp import commands


def command_error_response(error: commands.CommandError) -> Response:
    """The status and message every door gives (stations.operations.command_failure),
    and the kind of error for programs."""
    failure = operations.command_failure(error)
    return Response(
        {"detail": failure.message, "error": type(error).__name__}, status=failure.status
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 (handler404): in JSON under /api/, where no view of DRF answers it
    (an address no route matches, such as /api/v1/connectors/²/price/)."""
    if request.path_info.startswith(API_PREFIX):
        return JsonResponse({"detail": _("Not found.")}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)
