"""A simulated 1.6 charger over TLS (security profiles 2 and 3)."""

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from websockets.asyncio.client import connect

from tests.charger import SimulatedCharger
from tests.conftest import basic_auth
from tests.pki import Pki


def client_context(pki: Pki, certificate: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """The charger's side: it trusts the CSMS root and may present its certificate."""
    context = ssl.create_default_context(cafile=pki.server_root)
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return context


@asynccontextmanager
async def tls_charger(
    url: str,
    charge_point_id: str,
    context: ssl.SSLContext,
    password: str | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[SimulatedCharger]:
    async with connect(
        f"{url}/ocpp/{charge_point_id}",
        subprotocols=["ocpp1.6"],
        additional_headers={
            **(basic_auth(charge_point_id, password) if password else {}),
            **(headers or {}),
        },
        ssl=context,
        open_timeout=10,
    ) as websocket:
        cp = SimulatedCharger(charge_point_id, websocket)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
