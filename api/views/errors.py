"""A command that did not get an answer the caller can act on, as an HTTP answer."""

from rest_framework.response import Response

from stations import operations
from stations.ocpp import commands


def command_error_response(error: commands.CommandError) -> Response:
    """The status and message every door gives (stations.operations.command_failure),
    and the kind of error for programs."""
    failure = operations.command_failure(error)
    return Response(
        {"detail": failure.message, "error": type(error).__name__}, status=failure.status
    )
