"""The reference for bench/ocpp_load.py --compare-reference: the `ocpp` library's own
central-system pattern (its examples/v16/central_system.py) on `websockets`.

    .venv/bin/python bench/ocpp_reference.py --port 9000

It answers every call the benchmark's chargers make, with the library's strict schema
validation both ways, and stores nothing: no database, no message log, no channel layer.
What ChargeHub does on top of it (persisting every frame, sample and status) is what the
ratio printed by the benchmark costs.
"""

import argparse
import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ReferenceChargePoint(ChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, **kwargs: Any) -> Any:
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status_notification(self, **kwargs: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **kwargs: Any) -> Any:
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    def on_start_transaction(self, **kwargs: Any) -> Any:
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info={"status": AuthorizationStatus.accepted},
        )

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **kwargs: Any) -> Any:
        return call_result.StopTransaction()


async def on_connect(websocket: Any) -> None:
    charge_point_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    try:
        await ReferenceChargePoint(charge_point_id, websocket).start()
    except websockets.exceptions.ConnectionClosed:
        pass


async def serve(port: int) -> None:
    async with websockets.serve(
        on_connect, "127.0.0.1", port, subprotocols=["ocpp1.6"], compression=None
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
