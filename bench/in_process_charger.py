"""A charger for the benches that drive the real ASGI application in process."""

import base64
from typing import Any


def charger(charge_point_id: str, password: str) -> Any:
    """A WebsocketCommunicator for `charge_point_id` on /ocpp/ with Basic auth and OCPP 1.6,
    not yet connected (the benches time or prepare around the connect). Call it after
    Django is set up."""
    from channels.testing import WebsocketCommunicator

    from chargehub.asgi import application

    token = base64.b64encode(f"{charge_point_id}:{password}".encode())
    return WebsocketCommunicator(
        application,
        f"/ocpp/{charge_point_id}",
        headers=[(b"authorization", b"Basic " + token)],
        subprotocols=["ocpp1.6"],
    )
