"""A command that did not get an answer the caller can act on, as an HTTP answer."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from stations.ocpp import commands

# The charger, or the way to it, failed: the API is a gateway to it (RFC 9110 §15.6.3).
STATUS_OF_ERROR: list[tuple[type[commands.CommandError], int]] = [
    (commands.UnknownChargePoint, status.HTTP_404_NOT_FOUND),
    (commands.InvalidCommand, status.HTTP_400_BAD_REQUEST),
    (commands.CommandTimeout, status.HTTP_504_GATEWAY_TIMEOUT),
    (commands.CommandError, status.HTTP_502_BAD_GATEWAY),
]


def command_error_response(error: commands.CommandError) -> Response:
    code = next(code for kind, code in STATUS_OF_ERROR if isinstance(error, kind))
    return Response({"detail": str(error), "error": type(error).__name__}, status=code)


def refused_by_charger_response(answer_status: str) -> Response:
    return Response(
        {
            "detail": _("The charger answered %(status)s.") % {"status": answer_status},
            "status": answer_status,
        },
        status=status.HTTP_409_CONFLICT,
    )


class Conflict(APIException):
    """What is asked cannot be done in the present state (no usable token, not active)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("This cannot be done now.")
    default_code = "conflict"
