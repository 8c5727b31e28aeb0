"""A CALL from an accepted OCPP 1.6 charger, handled as consumer.py does minus the socket.

For a rule of a v16 handler (what a StatusNotification stores, ...) a WebSocket adds
nothing but time: the payload is checked against its schema as the consumer checks it,
the handler runs in its transaction, and the answer is checked as it would go on the
wire (tests/stations/ocpp_wire.py). Framing, connection lifetime and end-to-end paths
keep their real chargers.
"""

import json
from datetime import datetime
from typing import Any

from django.utils import timezone

from stations.models import ChargePoint
from stations.ocpp import rpc, v16
from tests.stations.ocpp_wire import assert_answer


def handle(
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    received_at: datetime | None = None,
) -> dict[str, Any]:
    """Handle `action` from the charge point (registered on first use); the answer."""
    charge_point, _ = ChargePoint.objects.get_or_create(charge_point_id=charge_point_id)
    rpc.validate("1.6", action, "request", payload, inbound=True)
    answer = v16.handle(charge_point, action, payload, received_at or timezone.now())
    return assert_answer(action, json.loads(rpc.encode_call_result("id", answer)), "id")
