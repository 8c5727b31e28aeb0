"""OCPP_AFTER_BOOT hooks for tests/stations/test_after_boot.py (imported by the server)."""

from typing import Any

from ocpp.v16 import call

from stations.models import ChargePoint


def broken(charge_point: ChargePoint) -> list[Any]:
    raise RuntimeError("a hook with a bug")


def ask_for_status(charge_point: ChargePoint) -> list[Any]:
    return [call.TriggerMessage(requested_message="StatusNotification")]
