"""A simulated OCPP 1.6 charge point for tests, on the `ocpp` package's ChargePoint.

It answers every command a central system can send with a fixed, schema-valid answer
(overridable per test through `answers`: an answer, or a function of the request's
fields that returns one), and records what it was asked (`received`).
It can also send raw frames, for the error cases the package would never produce.
"""

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

_DEFAULT_ANSWERS: dict[str, dict[str, Any]] = {
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "ChangeAvailability": {"status": "Accepted"},
    "GetConfiguration": {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ],
        "unknownKey": [],
    },
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "TriggerMessage": {"status": "Accepted"},
    "UpdateFirmware": {},
    "GetDiagnostics": {"fileName": "diagnostics-0001.zip"},
    "ReserveNow": {"status": "Accepted"},
    "CancelReservation": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "GetCompositeSchedule": {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-01-01T00:00:00Z",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        },
    },
    "SendLocalList": {"status": "Accepted"},
    "GetLocalListVersion": {"listVersion": 3},
    # Security whitepaper ed. 3.
    "GetLog": {"status": "Accepted", "filename": "log-0001.zip"},
    "SignedUpdateFirmware": {"status": "Accepted"},
    "CertificateSigned": {"status": "Accepted"},
    "InstallCertificate": {"status": "Accepted"},
    "GetInstalledCertificateIds": {"status": "NotFound"},
    "DeleteCertificate": {"status": "Accepted"},
    "ExtendedTriggerMessage": {"status": "Accepted"},
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call_result_of(action: str, answer: dict[str, Any]) -> Any:
    """The `call_result` dataclass of a camelCase answer payload."""
    return getattr(call_result, action)(**camel_to_snake_case(answer))


def _make_handler(action: str):
    async def handler(self: "SimulatedCharger", **kwargs: Any) -> dict[str, Any]:
        self.received.append((action, kwargs))
        self.received_times.append(time.monotonic())
        answer = self.answers.get(action, _DEFAULT_ANSWERS[action])
        if callable(answer):  # an answer that depends on the request (or on earlier ones)
            answer = answer(kwargs)
        if isinstance(answer, BaseException):
            raise answer
        if answer == "silence":
            await asyncio.sleep(3600)
        # The package serializes dataclasses only: a dict answer becomes its call_result.
        return call_result_of(action, answer)

    handler.__name__ = f"on_{action}"
    return on(action, skip_schema_validation=True)(handler)


class SimulatedCharger(ChargePoint):
    def __init__(self, charge_point_id: str, connection: Any):
        super().__init__(charge_point_id, connection, response_timeout=10)
        self.received: list[tuple[str, dict[str, Any]]] = []
        # When each of `received` arrived (time.monotonic()), to order several chargers'.
        self.received_times: list[float] = []
        self.answers: dict[str, Any] = {}
        self._raw_replies: asyncio.Queue[str] = asyncio.Queue()
        self._expect_raw = False

    for _action in _DEFAULT_ANSWERS:
        locals()[f"on_{_action}"] = _make_handler(_action)
    del _action

    async def raw(self, frame: str | list[Any], timeout: float = 20.0) -> list[Any]:
        """Send a raw frame and return the next frame the server sends back (parsed).

        The wait is generous: the test server runs its Celery tasks inline (a stop is
        settled, its receipt rendered, before the answer), on two cores shared with
        the rest of the suite. Only a missing answer waits that long.
        """
        text = frame if isinstance(frame, str) else json.dumps(frame)
        # Answers to raw frames are taken before the package's router sees them.
        self._expect_raw = True
        try:
            await self._connection.send(text)
            return json.loads(await asyncio.wait_for(self._raw_replies.get(), timeout))
        finally:
            self._expect_raw = False

    async def route_message(self, raw_msg: str) -> None:
        message = json.loads(raw_msg) if raw_msg.startswith("[") else None
        if message and message[0] in (3, 4) and self._expect_raw:
            self._raw_replies.put_nowait(raw_msg)
            return
        await super().route_message(raw_msg)

    async def boot(self, **fields: Any) -> Any:
        return await self.call(
            call.BootNotification(
                charge_point_vendor=fields.pop("vendor", "ChargeHub"),
                charge_point_model=fields.pop("model", "Sim-22"),
                **fields,
            )
        )
