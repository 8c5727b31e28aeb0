"""Send a command to a charger from anywhere: a web request, a Celery task, a CLI.

    from ocpp.v16 import call
    answer = await commands.send("CP-1", call.Reset(type="Soft"), issued_by=request.user)
    answer.status  # "Accepted"

The command travels over the channel layer to the group of the consumer that holds the
charger's socket, in whichever process that is (Redis in production, the embedded
SQLite layer otherwise). The consumer acknowledges at once, sends the CALL, and replies
with the charger's answer. Every command, its answer and its issuer is recorded
(ChargerCommand). Errors come back as CommandError subclasses with a clear message.
"""

import asyncio
import dataclasses
import json
import threading
import weakref
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, BaseChannelLayer, channel_layers
from django.conf import settings
from django.utils import timezone
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.v16 import call_result

from stations import signals
from stations.models import ChargePoint, ChargerCommand
from stations.ocpp import protocols, rpc
from stations.ocpp.connections import charge_point_group

# How long the process holding the socket has to acknowledge a command. No
# acknowledgement means no process holds the charger's socket.
ACKNOWLEDGE_TIMEOUT = 5.0

# Each event loop's own channel layer (see _channel_layer); a loop's goes when it closes.
_layers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BaseChannelLayer] = (
    weakref.WeakKeyDictionary()
)
_layers_lock = threading.Lock()


class CommandError(Exception):
    """A command did not get an answer from the charger it can act on."""

    status = ChargerCommand.Status.ERROR


class UnknownChargePoint(CommandError):
    status = ChargerCommand.Status.INVALID


class InvalidCommand(CommandError):
    status = ChargerCommand.Status.INVALID


class ChargerOffline(CommandError):
    status = ChargerCommand.Status.OFFLINE


class CommandTimeout(CommandError):
    status = ChargerCommand.Status.TIMEOUT


class ChannelLayerUnavailable(CommandError):
    """The channel layer (Redis) could not be reached: no process could be asked."""


class InvalidAnswer(CommandError):
    """The charger's CALLRESULT does not match the action's response schema."""

    def __init__(self, message: str, payload: dict[str, Any]) -> None:
        super().__init__(message)
        self.payload = payload


class CallErrorReceived(CommandError):
    """The charger answered with a CALLERROR."""

    def __init__(self, error_code: str, description: str, details: dict[str, Any]) -> None:
        super().__init__(f"The charger answered {error_code}: {description}".strip(": "))
        self.error_code = error_code
        self.description = description
        self.details = details


def request_payload(request: Any) -> tuple[str, dict[str, Any]]:
    """(action, camelCase payload) of an `ocpp.v16.call.*` dataclass."""
    if not dataclasses.is_dataclass(request) or isinstance(request, type):
        raise InvalidCommand("A command is an instance of an ocpp.v16.call dataclass")
    payload = remove_nones(snake_to_camel_case(serialize_as_dict(request)))
    return type(request).__name__, payload


async def send(
    charge_point_id: str,
    request: Any,
    *,
    timeout: float | None = None,
    issued_by: Any = None,
    source: str = "",
) -> Any:
    """Send an `ocpp.v16.call.*` request; return the matching `call_result` dataclass."""
    action, payload = request_payload(request)
    answer = await send_payload(
        charge_point_id, action, payload, timeout=timeout, issued_by=issued_by, source=source
    )
    return getattr(call_result, action)(**camel_to_snake_case(answer))


async def send_payload(
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    *,
    timeout: float | None = None,
    issued_by: Any = None,
    source: str = "",
) -> dict[str, Any]:
    """Send `action` with a camelCase payload; return the charger's answer payload."""
    timeout = settings.OCPP_COMMAND_TIMEOUT if timeout is None else timeout
    try:
        payload = rpc.to_plain(payload)
    except (TypeError, ValueError):
        raise InvalidCommand(f"The {action} payload is not JSON") from None
    command = await database_sync_to_async(_record)(
        charge_point_id, action, payload, issued_by, source
    )
    try:
        answer = await _deliver(command, charge_point_id, action, payload, timeout)
    except CommandError as error:
        # An invalid answer is kept: it is what the charger's vendor needs to see.
        response = error.payload if isinstance(error, InvalidAnswer) else None
        await database_sync_to_async(_finish)(command, error.status, response, str(error))
        raise
    await database_sync_to_async(_finish)(command, ChargerCommand.Status.ANSWERED, answer, "")
    return answer


send_sync = async_to_sync(send)
send_payload_sync = async_to_sync(send_payload)


async def _deliver(
    command: ChargerCommand,
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    subprotocol = command.charge_point.protocol or protocols.DEFAULT_SUBPROTOCOL
    version = rpc.SUBPROTOCOLS[subprotocol]
    if action not in protocols.PROTOCOLS[subprotocol].COMMANDS:
        raise InvalidCommand(f"{action} is not a command a central system sends in OCPP {version}")
    try:
        # Checked as the charger will read it: numbers as Decimal, so that a limit of
        # 16.0 A passes "multipleOf 0.1" (OCPP 1.6 ChargingSchedulePeriod.limit).
        as_read = json.loads(json.dumps(payload), parse_float=Decimal)
        rpc.validate(version, action, "request", as_read, inbound=False)
    except rpc.OcppError as error:
        raise InvalidCommand(f"Invalid {action}: {error.description}") from None
    if not command.charge_point.is_connected:
        raise ChargerOffline(f"{charge_point_id} is not connected")

    layer = _channel_layer()
    unavailable = f"{action} not sent to {charge_point_id}: channel layer unavailable"

    async def receive(channel: str) -> dict[str, Any]:
        try:
            return await layer.receive(channel)
        except Exception as error:  # whatever the layer raises: it cannot be reached now
            raise ChannelLayerUnavailable(f"{unavailable} ({error})") from error

    try:
        reply_to = await layer.new_channel()
        await layer.group_send(
            charge_point_group(charge_point_id),
            {
                "type": "ocpp.command",
                "unique_id": command.unique_id,
                "action": action,
                "payload": payload,
                "timeout": timeout,
                "reply_to": reply_to,
                # Only the connection that owns the charger runs it, even while a newer
                # one is replacing it: the command reaches the charger once.
                "connection_id": command.charge_point.connection_id,
            },
        )
    except Exception as error:
        raise ChannelLayerUnavailable(f"{unavailable} ({error})") from error
    try:
        await asyncio.wait_for(receive(reply_to), ACKNOWLEDGE_TIMEOUT)
    except TimeoutError:
        raise ChargerOffline(f"No server process holds a connection to {charge_point_id}") from None
    try:
        async with asyncio.timeout(timeout + ACKNOWLEDGE_TIMEOUT):
            reply = await receive(reply_to)
            # Only a result ends the wait.
            while reply["type"] != "ocpp.command.result":
                reply = await receive(reply_to)
    except TimeoutError:
        raise CommandTimeout(
            f"{charge_point_id} did not answer {action} in {timeout:g} s"
        ) from None

    outcome = reply["outcome"]
    if outcome == "result":
        return reply["payload"]
    if outcome == "error":
        raise CallErrorReceived(reply["error_code"], reply["description"], reply["details"])
    if outcome == "invalid":
        raise InvalidAnswer(
            f"{charge_point_id} answered {action} with an invalid payload: {reply['description']}",
            reply["payload"],
        )
    if outcome == "timeout":
        raise CommandTimeout(f"{charge_point_id} did not answer {action} in {timeout:g} s")
    raise ChargerOffline(f"{charge_point_id} disconnected before answering {action}")


def _channel_layer() -> BaseChannelLayer:
    """The channel layer this event loop receives its commands' answers on.

    channels_redis lets one event loop at a time receive() on a layer object: two threads
    of one process sending at once (a Celery worker's thread pool, each thread in a loop
    of its own through send_sync) failed with "Two event loops are trying to receive()
    on one channel layer at once". A layer that serves every loop (the embedded one) is
    shared, so that a command and the consumer of one process meet in memory.
    """
    shared = channel_layers[DEFAULT_CHANNEL_LAYER]
    if getattr(shared, "serves_every_event_loop", False):
        return shared
    loop = asyncio.get_running_loop()
    with _layers_lock:
        layer = _layers.get(loop)
        if layer is None:
            layer = _layers[loop] = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    return layer


def _record(
    charge_point_id: str, action: str, payload: dict[str, Any], issued_by: Any, source: str
) -> ChargerCommand:
    charge_point = ChargePoint.objects.filter(charge_point_id=charge_point_id).first()
    if charge_point is None:
        raise UnknownChargePoint(f"No charge point {charge_point_id!r}")
    user = issued_by if getattr(issued_by, "is_authenticated", False) else None
    return ChargerCommand.objects.create(
        charge_point=charge_point,
        action=action,
        payload=rpc.to_plain(payload),
        unique_id=rpc.new_message_id(),
        issued_by=user,
        source=source,
    )


def _finish(
    command: ChargerCommand, status: str, response: dict[str, Any] | None, error: str
) -> None:
    command.status = status
    command.response = response
    command.error = error
    command.answered_at = timezone.now()
    command.save(update_fields=["status", "response", "error", "answered_at"])
    signals.announce(signals.command_finished, ChargerCommand, command=command)
