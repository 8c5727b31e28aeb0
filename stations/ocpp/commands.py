"""Send a command to a charger from anywhere: a web request, a Celery task, a CLI.

    from ocpp.v16 import call
    answer = await commands.send("CP-1", call.Reset(type="Soft"), issued_by=request.user)
    answer.status  # "Accepted"

From sync code: `commands.send_sync(...)` (see from_sync_code). The command travels
over the channel layer to the group of the consumer that holds the charger's socket, in
whichever process that is (Redis in production, the embedded SQLite layer otherwise).
The consumer acknowledges at once, sends the CALL, and replies with the charger's
answer. Every command, its answer and its issuer is recorded (ChargerCommand). Errors
come back as CommandError subclasses with a clear message.
"""

import asyncio
import dataclasses
import json
import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
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

from stations import charger_auth, signals
from stations.models import ChargePoint, ChargerCommand
from stations.ocpp import protocols, rpc
from stations.ocpp.connections import charge_point_group

# How long the process holding the socket has to acknowledge a command. No
# acknowledgement means no process holds the charger's socket.
ACKNOWLEDGE_TIMEOUT = 5.0

# Each event loop's own channel layer, with the shared layer it was made for (see
# _channel_layer); a loop's goes when it closes.
_layers: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[BaseChannelLayer, BaseChannelLayer]
] = weakref.WeakKeyDictionary()
_layers_lock = threading.Lock()
# The event loop of this process's commands sent from sync code (see _sending_loop).
_sending: dict[int, asyncio.AbstractEventLoop] = {}


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
    """Send `action` with a camelCase payload; return the charger's answer payload.

    A new AuthorizationKey (ChangeConfiguration; security whitepaper use case A01), from
    any caller: one shorter than MIN_PASSWORD_LENGTH is refused unsent; once the charger
    takes it its hash replaces the stored password, so the old one no longer lets the
    charger in (A01.FR.03); refused, the old one stays (A01.FR.04).
    """
    timeout = settings.OCPP_COMMAND_TIMEOUT if timeout is None else timeout
    try:
        payload = rpc.to_plain(payload)
    except (TypeError, ValueError):
        raise InvalidCommand(f"The {action} payload is not JSON") from None
    key = charger_auth.new_authorization_key(action, payload)
    if key is not None and len(key) < charger_auth.MIN_PASSWORD_LENGTH:
        raise InvalidCommand(
            f"An AuthorizationKey has at least {charger_auth.MIN_PASSWORD_LENGTH} characters"
        )
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
    if key is not None and answer.get("status") in ("Accepted", "RebootRequired"):
        await database_sync_to_async(_password_taken)(command, key)
    await database_sync_to_async(_finish)(command, ChargerCommand.Status.ANSWERED, answer, "")
    return answer


def from_sync_code[**P, R](function: Callable[P, Awaitable[R]]) -> Callable[P, R]:
    """`function` (sending commands, stations/live.py's updates) callable from sync code:
    a Celery task, a view, a thread of a pool.

    async_to_sync alone would run each call in an event loop of its own, and so open a
    channel layer, with its Redis connections, per call. Run on the process's sending
    loop instead, every sync caller shares one layer and its connections; the ORM work
    still happens in the caller's thread (asgiref hands it back), inside its transaction.
    Code already running for a server's event loop (a sync view under daphne) sends from
    that loop, which has its layer. The embedded layer keeps a loop per call: a loop that
    lived for ever would poll its SQLite file for ever.
    """
    in_sync = async_to_sync(function)

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        # asgiref runs async_to_sync on the loop its thread-local names, when it runs.
        local = SyncToAsync.threadlocal
        above = getattr(local, "main_event_loop", None)
        if (above is not None and above.is_running()) or _layer_serves_every_loop():
            return in_sync(*args, **kwargs)
        previous = above, getattr(local, "main_event_loop_pid", None)
        local.main_event_loop, local.main_event_loop_pid = _sending_loop(), os.getpid()
        try:
            return in_sync(*args, **kwargs)
        finally:
            local.main_event_loop, local.main_event_loop_pid = previous

    return call


send_sync = from_sync_code(send)
send_payload_sync = from_sync_code(send_payload)


def _sending_loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for commands from sync code, in a thread of its own.

    Per process id: a forked Celery worker child starts its own (the thread does not
    survive the fork).
    """
    with _layers_lock:
        loop = _sending.get(os.getpid())
        if loop is None:
            loop = _sending[os.getpid()] = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="commands", daemon=True).start()
    return loop


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

    layer = await _channel_layer()
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


async def _channel_layer() -> BaseChannelLayer:
    """The channel layer this event loop receives its commands' answers on.

    channels_redis lets one event loop at a time receive() on a layer object: two threads
    of one process sending at once (a Celery worker's thread pool, each thread in a loop
    of its own through async_to_sync) failed with "Two event loops are trying to
    receive() on one channel layer at once". A layer that serves every loop (the embedded
    one) is shared, so that a command and the consumer of one process meet in memory. A
    loop's layer is made again when the settings give another (tests override them).
    """
    shared = channel_layers[DEFAULT_CHANNEL_LAYER]
    if _layer_serves_every_loop():
        return shared
    loop = asyncio.get_running_loop()
    with _layers_lock:
        made_for, old = _layers.get(loop, (None, None))
        if made_for is shared and old is not None:
            return old
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        _layers[loop] = (shared, layer)
    if old is not None:
        await old.close_pools()
    return layer


def _layer_serves_every_loop() -> bool:
    return getattr(channel_layers[DEFAULT_CHANNEL_LAYER], "serves_every_event_loop", False)


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
        payload=rpc.to_plain(charger_auth.on_record(action, payload)),
        unique_id=rpc.new_message_id(),
        issued_by=user,
        source=source,
    )


def _password_taken(command: ChargerCommand, key: str) -> None:
    charge_point = ChargePoint.objects.get(pk=command.charge_point_id)
    charge_point.set_password(key)
    charge_point.save(update_fields=["password_hash"])


def _finish(
    command: ChargerCommand, status: str, response: dict[str, Any] | None, error: str
) -> None:
    command.status = status
    command.response = response
    command.error = error
    command.answered_at = timezone.now()
    command.save(update_fields=["status", "response", "error", "answered_at"])
    signals.announce(signals.command_finished, ChargerCommand, command=command)
