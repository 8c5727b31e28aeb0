"""A simulated OCPP 1.6 charge point: the demo's chargers and a manual test partner.

    charger = SimulatedChargePoint("SIM-001", "ws://127.0.0.1:8000/ocpp", password="…")
    await charger.run()        # until charger.stop() is called

It behaves like a well-mannered real charger (OCPP 1.6 edition 2, Core profile plus
remote trigger): it boots, reports every connector's status, sends Heartbeats at the
interval the server hands out, charges on RemoteStartTransaction (Authorize,
StartTransaction, then MeterValues with a rising energy register), stops on
RemoteStopTransaction, and answers the other Core commands sensibly. When the
connection drops it reconnects with exponential backoff and carries on with the
transactions it had open. With `auto_sessions` it also starts and ends sessions on its
own now and then, so a demo site looks alive.

It needs no Django: the `simulate_chargers` management command runs many of these.
"""

import asyncio
import base64
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    AvailabilityStatus,
    AvailabilityType,
    ChargePointErrorCode,
    ChargePointStatus,
    ConfigurationStatus,
    MessageTrigger,
    Reason,
    RegistrationStatus,
    RemoteStartStopStatus,
    ResetStatus,
    TriggerMessageStatus,
    UnlockStatus,
)
from websockets.asyncio.client import ClientConnection, connect

logger = logging.getLogger(__name__)

# Reconnect backoff (seconds): doubles from the first to the last, with jitter so that
# a fleet that lost the server at once does not come back at once.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0


def utc_now() -> str:
    """An OCPP timestamp: UTC, milliseconds, 'Z' offset."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SimulatedConnector:
    connector_id: int
    max_power_w: float = 22_000.0
    status: str = ChargePointStatus.available
    operative: bool = True
    # The energy register only ever rises (OCPP 1.6 §7.31 Energy.Active.Import.Register).
    register_wh: float = field(default_factory=lambda: float(random.randint(0, 5_000_000)))
    transaction_id: int | None = None
    id_tag: str = ""
    power_w: float = 0.0
    meter_task: asyncio.Task[None] | None = None


class SimulatedChargePoint(ChargePoint):
    """One simulated charger; `run()` keeps it connected until `stop()`."""

    def __init__(
        self,
        charge_point_id: str,
        server_url: str,
        *,
        password: str | None = None,
        connectors: int = 2,
        meter_interval: float = 10.0,
        auto_sessions: bool = False,
        id_tags: list[str] | None = None,
        vendor: str = "ChargeHub",
        model: str = "Sim-22",
    ) -> None:
        super().__init__(charge_point_id, None, response_timeout=30)
        self.server_url = server_url.rstrip("/")
        self.password = password
        self.vendor = vendor
        self.model = model
        self.connectors = {
            n: SimulatedConnector(n, max_power_w=random.choice([11_000.0, 22_000.0]))
            for n in range(1, connectors + 1)
        }
        self.auto_sessions = auto_sessions
        self.id_tags = id_tags or ["SIM-TAG"]
        self.heartbeat_interval = 300.0
        # GetConfiguration/ChangeConfiguration keys (OCPP 1.6 §9.1): value, read-only.
        self.configuration: dict[str, tuple[str, bool]] = {
            "HeartbeatInterval": ("300", False),
            "MeterValueSampleInterval": (f"{meter_interval:g}", False),
            "MeterValuesSampledData": (
                "Energy.Active.Import.Register,Power.Active.Import",
                False,
            ),
            "NumberOfConnectors": (str(connectors), True),
            "AuthorizeRemoteTxRequests": ("true", False),
            "ConnectionTimeOut": ("60", False),
            "SupportedFeatureProfiles": ("Core,RemoteTrigger", True),
        }
        self.connected = asyncio.Event()
        self.booted = asyncio.Event()
        self._stopping = asyncio.Event()
        self._websocket: ClientConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- Lifecycle ------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, boot and serve; reconnect with backoff when the connection drops."""
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                async with connect(
                    f"{self.server_url}/{self.id}",
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=self._auth_headers(),
                    open_timeout=15,
                ) as websocket:
                    backoff = BACKOFF_FIRST
                    await self._serve(websocket)
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError) as error:
                logger.info("%s: connection failed or lost: %s", self.id, error)
            except Exception:
                # A simulator bug must not end the simulation: log it and reconnect.
                logger.exception("%s: unexpected error", self.id)
            finally:
                self.connected.clear()
                self.booted.clear()
                self._websocket = None
            if self._stopping.is_set():
                break
            delay = backoff * random.uniform(0.5, 1.5)
            backoff = min(backoff * 2, BACKOFF_MAX)
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stopping.set()
        if self._websocket is not None:
            await self._websocket.close()

    def _auth_headers(self) -> dict[str, str]:
        if self.password is None:
            return {}
        # OCPP 1.6 security whitepaper, profile 1: HTTP Basic auth, the id as username.
        token = base64.b64encode(f"{self.id}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def _serve(self, websocket: ClientConnection) -> None:
        self._connection = websocket
        self._websocket = websocket
        self._response_queue = asyncio.Queue()
        self.connected.set()
        reader = asyncio.create_task(self.start())
        worker = asyncio.create_task(self._work())
        try:
            await asyncio.wait({reader, worker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, worker, *self._tasks):
                task.cancel()
            for connector in self.connectors.values():
                connector.meter_task = None
            await asyncio.gather(reader, worker, *self._tasks, return_exceptions=True)
            self._tasks.clear()
        for task in (reader, worker):
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _work(self) -> None:
        """Boot, report, then beat; resume metering for transactions open before a drop."""
        await self._boot()
        for connector_id in (0, *self.connectors):
            await self._send_status(connector_id)
        for connector in self.connectors.values():
            if connector.transaction_id is not None:
                self._start_metering(connector)
        if self.auto_sessions:
            self._spawn(self._auto_sessions())
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self.call(call.Heartbeat())

    async def _boot(self) -> None:
        # OCPP 1.6 §4.2.1: until Accepted, retry BootNotification after `interval`.
        while True:
            answer = await self.call(
                call.BootNotification(
                    charge_point_vendor=self.vendor,
                    charge_point_model=self.model,
                    charge_point_serial_number=f"SN-{self.id}"[:25],
                    firmware_version="1.0.0",
                )
            )
            if answer is not None and answer.status == RegistrationStatus.accepted:
                self._set_heartbeat_interval(answer.interval)
                self.booted.set()
                return
            retry = answer.interval if answer is not None and answer.interval > 0 else 60
            logger.info("%s: boot answered %s", self.id, getattr(answer, "status", None))
            await asyncio.sleep(retry)

    def _set_heartbeat_interval(self, seconds: int) -> None:
        if seconds > 0:
            self.heartbeat_interval = float(seconds)
            self.configuration["HeartbeatInterval"] = (str(seconds), False)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- Sessions -------------------------------------------------------------------

    def _free_connector(self, connector_id: int | None) -> SimulatedConnector | None:
        if connector_id is not None:
            connector = self.connectors.get(connector_id)
            candidates = [connector] if connector is not None else []
        else:
            candidates = list(self.connectors.values())
        for connector in candidates:
            if connector.operative and connector.transaction_id is None:
                return connector
        return None

    async def _send_status(self, connector_id: int, status: str | None = None) -> None:
        if connector_id == 0:
            status = ChargePointStatus.available
        else:
            connector = self.connectors[connector_id]
            if status is not None:
                connector.status = status
            status = connector.status
        await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=ChargePointErrorCode.no_error,
                status=status,
                timestamp=utc_now(),
            )
        )

    async def start_session(self, connector: SimulatedConnector, id_tag: str) -> bool:
        """Authorize and start a transaction on a free connector, as a driver would."""
        await self._send_status(connector.connector_id, ChargePointStatus.preparing)
        authorized = await self.call(call.Authorize(id_tag=id_tag))
        if authorized is None or authorized.id_tag_info["status"] != "Accepted":
            await self._send_status(connector.connector_id, ChargePointStatus.available)
            return False
        started = await self.call(
            call.StartTransaction(
                connector_id=connector.connector_id,
                id_tag=id_tag,
                meter_start=int(connector.register_wh),
                timestamp=utc_now(),
            )
        )
        if started is None:
            await self._send_status(connector.connector_id, ChargePointStatus.available)
            return False
        connector.transaction_id = started.transaction_id
        connector.id_tag = id_tag
        if started.id_tag_info["status"] != "Accepted":
            # OCPP 1.6 §4.8: a transaction the server does not accept is stopped.
            await self.stop_session(connector, Reason.de_authorized)
            return False
        await self._send_status(connector.connector_id, ChargePointStatus.charging)
        self._start_metering(connector)
        return True

    async def stop_session(self, connector: SimulatedConnector, reason: str) -> None:
        transaction_id = connector.transaction_id
        if transaction_id is None:
            return
        if connector.meter_task is not None and connector.meter_task is not asyncio.current_task():
            connector.meter_task.cancel()
        connector.meter_task = None
        connector.transaction_id = None
        connector.power_w = 0.0
        await self.call(
            call.StopTransaction(
                meter_stop=int(connector.register_wh),
                timestamp=utc_now(),
                transaction_id=transaction_id,
                reason=reason,
                id_tag=connector.id_tag or None,
            )
        )
        connector.id_tag = ""
        await self._send_status(connector.connector_id, ChargePointStatus.finishing)
        await self._send_status(
            connector.connector_id,
            ChargePointStatus.available if connector.operative else ChargePointStatus.unavailable,
        )

    def _start_metering(self, connector: SimulatedConnector) -> None:
        task = asyncio.create_task(self._meter(connector))
        connector.meter_task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _meter_interval(self) -> float:
        return max(0.1, float(self.configuration["MeterValueSampleInterval"][0]))

    async def _meter(self, connector: SimulatedConnector) -> None:
        """MeterValues every MeterValueSampleInterval while the transaction runs."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while connector.transaction_id is not None:
            await asyncio.sleep(self._meter_interval())
            now = loop.time()
            # A car draws near its maximum, with a little ripple.
            connector.power_w = connector.max_power_w * random.uniform(0.85, 0.98)
            connector.register_wh += connector.power_w * (now - last) / 3600
            last = now
            await self.send_meter_values(connector)

    async def send_meter_values(self, connector: SimulatedConnector) -> None:
        context = "Sample.Periodic"
        await self.call(
            call.MeterValues(
                connector_id=connector.connector_id,
                transaction_id=connector.transaction_id,
                meter_value=[
                    {
                        "timestamp": utc_now(),
                        "sampledValue": [
                            {
                                "value": str(int(connector.register_wh)),
                                "context": context,
                                "measurand": "Energy.Active.Import.Register",
                                "location": "Outlet",
                                "unit": "Wh",
                            },
                            {
                                "value": f"{connector.power_w:.0f}",
                                "context": context,
                                "measurand": "Power.Active.Import",
                                "location": "Outlet",
                                "unit": "W",
                            },
                        ],
                    }
                ],
            )
        )

    async def _auto_sessions(self) -> None:
        """Now and then a driver arrives at a free connector, charges a while and leaves."""
        while True:
            await asyncio.sleep(random.uniform(20, 120))
            connector = self._free_connector(None)
            if connector is not None and random.random() < 0.5:
                self._spawn(self._drive(connector))

    async def _drive(self, connector: SimulatedConnector) -> None:
        if await self.start_session(connector, random.choice(self.id_tags)):
            await asyncio.sleep(random.uniform(60, 600))
            await self.stop_session(connector, Reason.ev_disconnected)

    # --- Commands from the server (OCPP 1.6 §5) -------------------------------------
    # Answers go out first; what the command sets in motion runs in an @after hook,
    # since a CALL of our own can only be answered once this handler has returned.

    @on("RemoteStartTransaction")
    def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, **_: Any
    ) -> call_result.RemoteStartTransaction:
        accepted = self._free_connector(connector_id) is not None
        return call_result.RemoteStartTransaction(
            status=RemoteStartStopStatus.accepted if accepted else RemoteStartStopStatus.rejected
        )

    @after("RemoteStartTransaction")
    async def after_remote_start(
        self, id_tag: str, connector_id: int | None = None, **_: Any
    ) -> None:
        connector = self._free_connector(connector_id)
        if connector is not None:
            self._spawn(self.start_session(connector, id_tag))

    def _connector_of(self, transaction_id: int) -> SimulatedConnector | None:
        return next(
            (c for c in self.connectors.values() if c.transaction_id == transaction_id), None
        )

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        known = self._connector_of(transaction_id) is not None
        return call_result.RemoteStopTransaction(
            status=RemoteStartStopStatus.accepted if known else RemoteStartStopStatus.rejected
        )

    @after("RemoteStopTransaction")
    async def after_remote_stop(self, transaction_id: int) -> None:
        connector = self._connector_of(transaction_id)
        if connector is not None:
            self._spawn(self.stop_session(connector, Reason.remote))

    @on("Reset")
    def on_reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status=ResetStatus.accepted)

    @after("Reset")
    async def after_reset(self, type: str) -> None:
        self._spawn(self._reset(type))

    async def _reset(self, reset_type: str) -> None:
        # OCPP 1.6 §5.14: stop transactions, then reboot (a new connection and boot).
        reason = Reason.hard_reset if reset_type == "Hard" else Reason.soft_reset
        for connector in self.connectors.values():
            await self.stop_session(connector, reason)
        # A real charger takes a moment to shut down; closing the very instant the answer
        # left would also race the server's bookkeeping of that answer.
        await asyncio.sleep(1.0)
        if self._websocket is not None:
            await self._websocket.close()

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int) -> call_result.UnlockConnector:
        if connector_id not in self.connectors:
            return call_result.UnlockConnector(status=UnlockStatus.not_supported)
        return call_result.UnlockConnector(status=UnlockStatus.unlocked)

    @after("UnlockConnector")
    async def after_unlock(self, connector_id: int) -> None:
        # OCPP 1.6 §5.18: unlocking a connector in use ends its transaction.
        connector = self.connectors.get(connector_id)
        if connector is not None and connector.transaction_id is not None:
            self._spawn(self.stop_session(connector, Reason.unlock_command))

    @on("ChangeAvailability")
    def on_change_availability(
        self, connector_id: int, type: str
    ) -> call_result.ChangeAvailability:
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.ChangeAvailability(status=AvailabilityStatus.rejected)
        targets = self._targets(connector_id)
        # OCPP 1.6 §5.2: a connector in a transaction changes after it: Scheduled.
        busy = any(c.transaction_id is not None for c in targets)
        for connector in targets:
            connector.operative = type == AvailabilityType.operative
        return call_result.ChangeAvailability(
            status=AvailabilityStatus.scheduled if busy else AvailabilityStatus.accepted
        )

    @after("ChangeAvailability")
    async def after_change_availability(self, connector_id: int, type: str) -> None:
        for connector in self._targets(connector_id):
            if connector.transaction_id is None:
                status = (
                    ChargePointStatus.available
                    if connector.operative
                    else ChargePointStatus.unavailable
                )
                self._spawn(self._send_status(connector.connector_id, status))

    def _targets(self, connector_id: int) -> list[SimulatedConnector]:
        if connector_id == 0:
            return list(self.connectors.values())
        return [self.connectors[connector_id]] if connector_id in self.connectors else []

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        wanted = key or list(self.configuration)
        known = [
            {
                "key": name,
                "readonly": self.configuration[name][1],
                "value": self.configuration[name][0],
            }
            for name in wanted
            if name in self.configuration
        ]
        unknown = [name for name in wanted if name not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        if key not in self.configuration:
            return call_result.ChangeConfiguration(status=ConfigurationStatus.not_supported)
        if self.configuration[key][1]:
            return call_result.ChangeConfiguration(status=ConfigurationStatus.rejected)
        if key in {"HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut"}:
            if not value.isdigit():
                return call_result.ChangeConfiguration(status=ConfigurationStatus.rejected)
            if key == "HeartbeatInterval":
                self._set_heartbeat_interval(int(value))
        self.configuration[key] = (value, False)
        return call_result.ChangeConfiguration(status=ConfigurationStatus.accepted)

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None
    ) -> call_result.TriggerMessage:
        if connector_id is not None and connector_id != 0 and connector_id not in self.connectors:
            return call_result.TriggerMessage(status=TriggerMessageStatus.rejected)
        return call_result.TriggerMessage(status=TriggerMessageStatus.accepted)

    @after("TriggerMessage")
    async def after_trigger_message(
        self, requested_message: str, connector_id: int | None = None
    ) -> None:
        self._spawn(self._triggered(requested_message, connector_id))

    async def _triggered(self, message: str, connector_id: int | None) -> None:
        # OCPP 1.6 §5.17: send the requested message as if on our own initiative.
        if message == MessageTrigger.boot_notification:
            await self._boot()
        elif message == MessageTrigger.heartbeat:
            await self.call(call.Heartbeat())
        elif message == MessageTrigger.status_notification:
            ids = [connector_id] if connector_id is not None else [0, *self.connectors]
            for number in ids:
                await self._send_status(number)
        elif message == MessageTrigger.meter_values:
            ids = [connector_id] if connector_id else list(self.connectors)
            for number in ids:
                await self.send_meter_values(self.connectors[number])
        elif message == MessageTrigger.diagnostics_status_notification:
            await self.call(call.DiagnosticsStatusNotification(status="Idle"))
        elif message == MessageTrigger.firmware_status_notification:
            await self.call(call.FirmwareStatusNotification(status="Idle"))
