"""The Channels consumer that holds one charger's WebSocket.

It accepts (subprotocol, Basic auth or a client certificate), takes frames apart (rpc),
hands CALLs to the version's handlers and sends their answers back. Commands from the
rest of the system arrive as "ocpp.command" group messages (see commands.py). Channels
runs one consumer's events one at a time, so a command is never awaited inside an event
handler: it runs as a task, and the CALLRESULT that receive() later gets resolves its
future.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from chargehub.client_address import address_behind_proxies
from stations import charger_auth
from stations.models import ChargePoint
from stations.ocpp import after_boot, commands, connections, message_log, protocols, rpc
from stations.ocpp.database import run_in_database

logger = logging.getLogger(__name__)


class ChargerDisconnected(Exception):
    """The socket closed while a command waited for the charger's answer."""


# Private-use WebSocket close code (RFC 6455 §7.4.2) for "another connection for this
# charge point took over".
CLOSE_REPLACED = 4000
# Private-use close code for "the server failed", after 1011 (which autobahn does not let
# an application send): the charger reconnects as after any close.
CLOSE_SERVER_ERROR = 4011
# Private-use close code for "the server cannot serve you now, reconnect" (a storm); RFC
# 6455's own 1013 is not one an application may send through autobahn (1000, 3000-4999).
CLOSE_TRY_AGAIN_LATER = 4013

# How often last_seen_at is written at most: every frame counts as a sign of life, but
# one UPDATE per frame would double the database load of a busy charger. The charge point
# row (and its connectors, at their next use) is read again with it: what staff change in
# admin reaches a connected charger's calls within this time, never a query per call.
SEEN_WRITE_INTERVAL = 30.0
# Channel layers forget a group membership after settings.CHANNEL_GROUP_EXPIRY (a day by
# default). A charger stays connected for weeks, so its consumer joins its group again
# at a quarter of that, or commands would silently stop reaching it.
GROUP_RENEW_FRACTION = 0.25
# Seconds between attempts to reach the channel layer while it is down, doubling up to
# the second: how soon after Redis returns a charger gets commands again.
LAYER_RETRY_FIRST = 0.5
LAYER_RETRY_MOST = 5.0


class OcppConsumer(AsyncWebsocketConsumer):
    charge_point: ChargePoint
    version: rpc.Version

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """channels' AsyncConsumer.__call__, but reading the channel layer through
        _receive_from_layer, so that an outage of the layer does not end the consumer.

        channels' await_many_dispatch waits on both sources with asyncio.wait and a new
        task per event (2-3 % of a busy server's CPU); here the socket's events are read
        in this coroutine and the layer's in a task of their own, and a lock runs the
        consumer's events one at a time, as channels does.
        """
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self.layer_down = False
        self.event_lock = asyncio.Lock()
        from_layer = asyncio.get_running_loop().create_task(self._dispatch_from_layer())
        try:
            while True:
                message = await receive()
                async with self.event_lock:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            from_layer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await from_layer

    async def _dispatch_from_layer(self) -> None:
        while True:
            message = await self._receive_from_layer()
            async with self.event_lock:
                try:
                    await self.dispatch(message)
                except StopConsumer:
                    # Nothing a group message runs stops the consumer today (dispatch
                    # closes the socket on a failure); if one did, it would end as a close.
                    await self.close()
                    return

    async def _receive_from_layer(self) -> dict[str, Any]:
        """The next group message for this consumer, waiting out an outage of the layer.

        A Redis restart used to end every consumer (daphne closed each socket with 1011,
        and the whole fleet reconnected at once). Meanwhile the charger's frames are
        handled and stored as ever and commands fail with "channel layer unavailable";
        once the layer answers, the consumer joins its group again (a Redis restarted
        empty has forgotten it), and commands reach the charger again.
        """
        delay = LAYER_RETRY_FIRST
        while True:
            try:
                message = await self.channel_layer.receive(self.channel_name)
            except Exception as error:  # whatever the layer raises means "not now"
                if not self.layer_down:
                    logger.warning(
                        "%s: channel layer unavailable (%s: %s); retrying",
                        getattr(self, "charge_point_id", "?"),
                        type(error).__name__,
                        error,
                    )
                self.layer_down = True
            else:
                return message
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAYER_RETRY_MOST)
            if self.group and not await self._rejoin():
                continue
            delay = LAYER_RETRY_FIRST

    async def _rejoin(self) -> bool:
        """Join the charger's group again after an outage; whether the layer took it."""
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except Exception:
            return False
        if self.layer_down:
            self.layer_down = False
            self.group_joined = asyncio.get_running_loop().time()
            logger.warning("%s: channel layer back; group joined again", self.charge_point_id)
        return True

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run one event; if it fails, close the socket rather than die with it.

        An exception escaping a consumer makes daphne drop the socket (1011) without
        ever calling disconnect(), so the charger would stay marked connected with no
        socket behind it. Closing lets the disconnect run as for any other close.
        """
        try:
            # channels' dispatch would first hop to a thread to close old database
            # connections, once per frame: every run_in_database call does that itself.
            handler = getattr(self, get_handler_name(message), None)
            if handler is None:
                raise ValueError(f"No handler for message type {message['type']}")
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            if message["type"] == "websocket.disconnect":
                raise
            logger.exception(
                "%s: %s failed; closing the connection",
                getattr(self, "charge_point_id", "?"),
                message["type"],
            )
            await self.close(code=CLOSE_SERVER_ERROR)

    async def connect(self) -> None:
        self.charge_point_id: str = self.scope["url_route"]["kwargs"]["charge_point_id"]
        self.connection_id = uuid.uuid4().hex
        self.group = ""
        self.pending: dict[str, tuple[str, asyncio.Future[rpc.CallResult | rpc.CallError]]] = {}
        self.call_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        # Whether this connection holds the charger: only the owner handles frames and
        # commands (connections.mark_connected, is_owner).
        self.owner = False
        self.seen_written = self.group_joined = 0.0
        # Read once: a settings lookup per frame is measurable on a busy event loop.
        self.group_renew_interval = settings.CHANNEL_GROUP_EXPIRY * GROUP_RENEW_FRACTION
        self.check_replies = settings.DEBUG

        offered = self.scope.get("subprotocols", [])
        subprotocol = next((p for p in offered if p in protocols.PROTOCOLS), None)
        if subprotocol is None:
            logger.warning(
                "%s refused: no supported subprotocol in %s", self.charge_point_id, offered
            )
            await self._refuse("no supported OCPP subprotocol offered")
            return
        self.version = rpc.SUBPROTOCOLS[subprotocol]
        self.protocol = protocols.PROTOCOLS[subprotocol]

        credentials = connections.basic_auth_credentials(self.scope.get("headers", []))
        charge_point, reason = await run_in_database(connections.admit)(
            self.charge_point_id,
            credentials,
            subprotocol,
            connections.transport_security(self.scope),
        )
        if charge_point is None:
            logger.warning("%s refused: %s", self.charge_point_id, reason)
            await self._refuse(reason)
            return
        self.charge_point = charge_point
        # A Pending charger without a password got in with no credentials: it may boot and
        # wait, but this connection is never treated as accepted (see _is_accepted).
        self.authenticated = charge_point.can_authenticate

        # One socket per charger, in any number of processes: join the group, write this
        # connection as the owner (the database orders concurrent writers: the last one
        # wins), tell the group, then check. Whoever wrote before the last writer either
        # sees the newer owner in its own check or, having joined the group before the
        # last write, gets the last writer's message: every one but the last closes.
        # One that took the charger from no connection skips telling and checking (see
        # mark_connected): in a storm of returning chargers, most do.
        group = connections.charge_point_group(self.charge_point_id)
        if not await self._channel_layer_call(
            self.channel_layer.group_add(group, self.channel_name)
        ):
            await self.close()  # refused before the handshake: HTTP 403, the charger retries
            return
        self.group = group
        await self.accept(subprotocol)
        alone = await run_in_database(connections.mark_connected)(
            charge_point, self.connection_id, subprotocol
        )
        if not alone:
            replaced = {"type": "ocpp.replaced", "connection_id": self.connection_id}
            if not await self._channel_layer_call(
                self.channel_layer.group_send(self.group, replaced)
            ):
                await self.close(code=CLOSE_TRY_AGAIN_LATER)  # disconnect() marks it gone
                return
            if not await run_in_database(connections.is_owner)(
                self.charge_point_id, self.connection_id
            ):
                await self._close_replaced()
                return
        self.owner = True
        self.seen_written = self.group_joined = asyncio.get_running_loop().time()
        logger.info("%s connected (%s)", self.charge_point_id, subprotocol)

    async def _refuse(self, reason: str) -> None:
        """Close before the handshake (HTTP 403) and count the attempt for staff."""
        await self.close()
        headers = dict(self.scope.get("headers", []))
        address = address_behind_proxies(
            (self.scope.get("client") or ("", 0))[0] or "",
            headers.get(b"x-forwarded-for", b"").decode("latin-1"),
        )
        try:
            await run_in_database(connections.record_refusal)(self.charge_point_id, address, reason)
        except Exception:  # a full disk must not turn a refusal into a crash
            logger.exception("Could not record the refused connection of %s", self.charge_point_id)

    async def _channel_layer_call(self, call: Awaitable[None]) -> bool:
        """Await a channel-layer call; False (and one log line) when it fails.

        In a reconnection storm Redis may have no connection free in time: the charger is
        then refused or closed cleanly and retries, instead of an HTTP 500 or a traceback.
        """
        try:
            await call
        except Exception as error:  # whatever the layer raises means "not now"
            logger.warning(
                "%s: channel layer call failed (%s: %s)",
                self.charge_point_id,
                type(error).__name__,
                error,
            )
            return False
        return True

    async def disconnect(self, code: int) -> None:
        if not self.group:
            return  # refused before it was accepted
        # Commands still waiting for this charger answer their callers "disconnected".
        # Their tasks are not cancelled: an answer that arrived just before the socket
        # closed (a charger answering Reset, then rebooting) must still reach its caller.
        self.closed = True
        self.owner = False
        for _, future in self.pending.values():
            if not future.done():
                future.set_exception(ChargerDisconnected())
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        await self._channel_layer_call(
            self.channel_layer.group_discard(self.group, self.channel_name)
        )
        await run_in_database(connections.mark_disconnected)(
            self.charge_point_id, self.connection_id
        )
        await message_log.flush()
        logger.info("%s disconnected (%s)", self.charge_point_id, code)

    # --- Frames from the charger -----------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            # OCPP-J sends text frames only; a binary frame is read as UTF-8 text so that
            # it gets the same treatment as any other malformed frame.
            text_data = (bytes_data or b"").decode("utf-8", errors="replace")
        # No size check here: OCPP_MAX_FRAME_BYTES is enforced by the WebSocket protocol
        # layer (manage.py serve), which closes with 1009 before a frame is buffered whole.
        # An application cannot send 1009 itself (autobahn allows 1000 and 3000-4999).
        received_at = timezone.now()
        try:
            frame: rpc.Frame | rpc.FrameError = rpc.parse_frame(text_data)
        except rpc.FrameError as error:
            frame = error
        try:
            await self._note_seen(received_at)
            await self._receive_frame(frame, text_data, received_at)
        except Exception:
            # Our bug, not the charger's: it gets an answer and keeps its connection.
            logger.exception("%s: frame not handled", self.charge_point_id)
            if isinstance(frame, rpc.Call):
                await self._send_error(
                    frame.unique_id,
                    rpc.OcppError("InternalError", "The server could not process it"),
                )

    async def _receive_frame(
        self, frame: rpc.Frame | rpc.FrameError, text_data: str, received_at: Any
    ) -> None:
        if isinstance(frame, rpc.FrameError):
            self._log_in(text_data, frame.message_type, frame.unique_id or "", "")
            if frame.message_type in (rpc.CALLRESULT, rpc.CALLERROR):
                # A CALLERROR only ever answers a CALL; a broken answer is dropped.
                logger.warning("%s: dropped malformed answer: %s", self.charge_point_id, frame)
                return
            await self._send_error(frame.unique_id or rpc.UNKNOWN_MESSAGE_ID, frame)
            return

        if isinstance(frame, rpc.Call):
            self._log_in(text_data, rpc.CALL, frame.unique_id, frame.action)
            await self._answer_call(frame, received_at)
        else:
            waiting = self.pending.get(frame.unique_id)
            message_type = rpc.CALLRESULT if isinstance(frame, rpc.CallResult) else rpc.CALLERROR
            self._log_in(text_data, message_type, frame.unique_id, waiting[0] if waiting else "")
            if waiting is None:
                logger.warning(
                    "%s: dropped answer to unknown message %s",
                    self.charge_point_id,
                    frame.unique_id,
                )
            elif not waiting[1].done():
                waiting[1].set_result(frame)

    async def _answer_call(self, call: rpc.Call, received_at: Any) -> None:
        try:
            payload = await self._handle_call(call, received_at)
        except rpc.OcppError as error:
            await self._send_error(call.unique_id, error)
            return
        except Exception:
            logger.exception("%s: %s failed", self.charge_point_id, call.action)
            await self._send_error(
                call.unique_id, rpc.OcppError("InternalError", "The server could not process it")
            )
            return
        text = rpc.encode_call_result(call.unique_id, payload)
        self._log_out(text, rpc.CALLRESULT, call.unique_id, call.action)
        await self.send(text_data=text)
        if call.action == "BootNotification" and payload.get("status") == "Accepted":
            # A task, not awaited: its commands come back to this consumer to be sent.
            task = asyncio.get_running_loop().create_task(self._after_boot())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _after_boot(self) -> None:
        """Tell the charger what the rest of the system wants it told once it has
        booted (stations/ocpp/after_boot.py), each request a recorded command."""
        try:
            wanted = await run_in_database(after_boot.requests)(self.charge_point)
            for request in wanted:
                try:
                    await commands.send(self.charge_point_id, request, source=after_boot.SOURCE)
                except commands.CommandError as error:
                    logger.warning(
                        "%s: %s after boot failed: %s",
                        self.charge_point_id,
                        type(request).__name__,
                        error,
                    )
        except Exception:
            logger.exception(
                "%s: telling it what it must know after boot failed", self.charge_point_id
            )

    async def _handle_call(self, call: rpc.Call, received_at: Any) -> dict[str, Any]:
        if call.action not in self.protocol.HANDLERS:
            if call.action in self.protocol.ACTIONS:
                raise rpc.OcppError(
                    "NotSupported", f"{call.action} is not supported by this central system"
                )
            raise rpc.OcppError("NotImplemented", f"Unknown action {call.action}")
        rpc.validate(self.version, call.action, "request", call.payload, inbound=True)
        if call.action != "BootNotification" and not await self._is_accepted():
            # OCPP 1.6 §4.2.1: until accepted, a charger sends nothing but BootNotification.
            raise rpc.OcppError("SecurityError", "Charge point is not accepted (yet)")

        if call.action in self.protocol.WITHOUT_DATABASE:
            payload = self.protocol.handle(
                self.charge_point, call.action, call.payload, received_at
            )
        else:
            payload = await run_in_database(self.protocol.handle)(
                self.charge_point, call.action, call.payload, received_at
            )
        if self.check_replies:
            # Everything the server sends must be schema-valid; failing here is our bug.
            # Proven by the tests (their servers run with DEBUG), so production skips it.
            rpc.validate(self.version, call.action, "response", payload, inbound=False)
        return payload

    async def _is_accepted(self) -> bool:
        if self.authenticated and (
            self.charge_point.registration_status == ChargePoint.Registration.ACCEPTED
        ):
            return True
        # Staff may have approved it since it connected.
        await run_in_database(self.charge_point.refresh_from_db)(fields=["registration_status"])
        accepted = self.charge_point.registration_status == ChargePoint.Registration.ACCEPTED
        if accepted and not self.authenticated:
            # It came without credentials while Pending; staff gave it a password to accept
            # it, so this connection is not the accepted charger: it must come back with it.
            logger.warning("%s: accepted, reconnect with the password", self.charge_point_id)
            await self.close()
            return False
        return accepted

    async def _note_seen(self, now: Any) -> None:
        clock = asyncio.get_running_loop().time()
        interval = min(SEEN_WRITE_INTERVAL, self.charge_point.heartbeat_interval / 4)
        if clock - self.seen_written >= interval:
            self.seen_written = clock
            charge_point = await run_in_database(connections.mark_seen)(
                self.charge_point_id, self.connection_id, now
            )
            if charge_point is None:
                await self._close_replaced()  # owned by another connection by now
                return
            self.charge_point = charge_point
        if clock - self.group_joined >= self.group_renew_interval:
            self.group_joined = clock
            if not await self._channel_layer_call(
                self.channel_layer.group_add(self.group, self.channel_name)
            ):
                # Tried again with a frame a minute from now, not with every frame: a
                # layer that does not answer would hold each one up.
                self.group_joined -= self.group_renew_interval - 60

    async def _send_error(self, unique_id: str, error: rpc.OcppError) -> None:
        text = rpc.encode_call_error(unique_id, error, self.version)
        self._log_out(text, rpc.CALLERROR, unique_id, "")
        await self.send(text_data=text)

    def _log_in(self, text: str, message_type: Any, unique_id: str, action: str) -> None:
        kind = message_type if isinstance(message_type, int) and 2 <= message_type <= 4 else 0
        message_log.record(self.charge_point_id, "in", kind, unique_id, action, text)

    def _log_out(self, text: str, message_type: int, unique_id: str, action: str) -> None:
        message_log.record(self.charge_point_id, "out", message_type, unique_id, action, text)

    # --- One socket per charger ---------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        # A connection that lost the charger to a newer one closes; frames that reach it
        # before the close completes are not handled.
        if self.owner:
            await super().websocket_receive(message)

    # --- Group messages from the rest of the system ---------------------------------

    async def ocpp_replaced(self, event: dict[str, Any]) -> None:
        """Another connection for this charger wrote itself as the owner: check who owns it."""
        if not self.owner or event["connection_id"] == self.connection_id:
            return
        if not await run_in_database(connections.is_owner)(
            self.charge_point_id, self.connection_id
        ):
            await self._close_replaced()

    async def _close_replaced(self) -> None:
        self.owner = False
        logger.info("%s: replaced by a newer connection", self.charge_point_id)
        await self.close(code=CLOSE_REPLACED)

    async def ocpp_command(self, event: dict[str, Any]) -> None:
        """A command for this charger (see commands.send): acknowledge, then run it as a task.

        commands.send() names the connection that owned the charger when it was sent; any
        other one (replaced, or not yet the owner) stays silent, so the caller gets
        exactly one acknowledgement and one answer.
        """
        if not self.owner or event["connection_id"] != self.connection_id:
            return
        await self.channel_layer.send(event["reply_to"], {"type": "ocpp.command.accepted"})
        task = asyncio.get_running_loop().create_task(self._run_command(event))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run_command(self, event: dict[str, Any]) -> None:
        outcome = await self._call_charger(
            event["unique_id"], event["action"], event["payload"], event["timeout"]
        )
        reply = {"type": "ocpp.command.result", "unique_id": event["unique_id"], **outcome}
        await self.channel_layer.send(event["reply_to"], reply)

    async def _call_charger(
        self, unique_id: str, action: str, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """Send one CALL and wait for its answer; return the outcome for the caller.

        OCPP-J §4.1.1: one CALL outstanding per direction, so a command waits its turn.
        The timeout covers that wait too: a command whose caller gave up is never sent.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout), self.call_lock:
                if self.closed:
                    return {"outcome": "disconnected"}
                future: asyncio.Future[rpc.CallResult | rpc.CallError] = loop.create_future()
                self.pending[unique_id] = (action, future)
                try:
                    text = rpc.encode_call(unique_id, action, payload)
                    kept = charger_auth.on_record(action, payload)
                    logged = text if kept is payload else rpc.encode_call(unique_id, action, kept)
                    self._log_out(logged, rpc.CALL, unique_id, action)
                    await self.send(text_data=text)
                    answer = await future
                finally:
                    del self.pending[unique_id]
        except TimeoutError:
            return {"outcome": "timeout"}
        except ChargerDisconnected:
            return {"outcome": "disconnected"}
        return self._judge_answer(action, answer)

    def _judge_answer(self, action: str, answer: rpc.CallResult | rpc.CallError) -> dict[str, Any]:
        if isinstance(answer, rpc.CallError):
            return {
                "outcome": "error",
                "error_code": answer.error_code,
                "description": answer.description,
                "details": rpc.to_plain(answer.details),
            }
        try:
            rpc.validate(self.version, action, "response", answer.payload, inbound=True)
        except rpc.OcppError as error:
            return {
                "outcome": "invalid",
                "description": error.description,
                "payload": rpc.to_plain(answer.payload),
            }
        return {"outcome": "result", "payload": rpc.to_plain(answer.payload)}
