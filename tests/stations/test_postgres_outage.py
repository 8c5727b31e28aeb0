"""A PostgreSQL restart under a connected charger: InternalError for a while, nothing else.

The machine's PostgreSQL is shared, so the test does not restart it: the server reaches
it through a TCP proxy of the test's own, which the test cuts (every connection closed,
new ones refused, as while PostgreSQL restarts) and restores. The server keeps its
connections between calls as in production (DATABASE_CONN_MAX_AGE 60). Meanwhile the
charger's calls that need the database are answered with a CALLERROR InternalError; its
socket stays open, and once PostgreSQL is back its calls are handled and stored again
and commands reach it, without it reconnecting.
"""

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from ocpp.v16 import call

from stations.models import ChargePoint, MeterSample
from stations.ocpp import commands
from tests.conftest import _database_url
from tests.stations.ocpp_wire import new_id, send
from tests.waiting import eventually, free_port

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a database server to lose: PostgreSQL's"
)


class TcpProxy:
    """Passes TCP connections on to `target` from an event loop in a thread of its own
    (the test's loop is blocked while a server starts)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def _run[T](self, coroutine: Any) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def start(self) -> None:
        self.thread.start()
        self.restore()

    def restore(self) -> None:
        """Take connections again, on the same port."""

        async def listen() -> asyncio.Server:
            return await asyncio.start_server(self._serve, "127.0.0.1", self.port)

        self.server = self._run(listen())

    def cut(self) -> None:
        """Close every connection and refuse new ones."""

        async def close() -> None:
            assert self.server is not None
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            await self.server.wait_closed()

        self._run(close())

    def stop(self) -> None:
        if self.server is not None and self.server.is_serving():
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, upstream_writer}
        self.writers |= pair

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))
        self.writers -= pair


@pytest.fixture(scope="module")
def database_proxy() -> Iterator[TcpProxy]:
    database = urlsplit(_database_url())
    proxy = TcpProxy((database.hostname or "127.0.0.1", database.port or 5432))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def server_behind_proxy(start_server: Callable[..., str], database_proxy: TcpProxy) -> str:
    database = urlsplit(_database_url())
    through_proxy = database._replace(
        netloc=database.netloc.rsplit(":", 1)[0] + f":{database_proxy.port}"
    ).geturl()
    return start_server(DATABASE_URL=through_proxy, DATABASE_CONN_MAX_AGE="60")


def meter_values(wh: int) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": datetime.now(UTC).isoformat(),
                "sampledValue": [{"value": str(wh), "unit": "Wh"}],
            }
        ],
    }


async def answer_to(cp: Any, action: str, payload: dict[str, Any]) -> list[Any]:
    unique_id = new_id()
    frame = await cp.raw([2, unique_id, action, payload])
    assert frame[1] == unique_id, frame
    return frame


async def test_a_postgresql_restart_answers_internal_error_and_keeps_the_charger_connected(
    charger: Callable[..., Any], server_behind_proxy: str, database_proxy: TcpProxy
):
    cp_id = "PG-RESTART"
    async with charger(cp_id, server=server_behind_proxy) as cp:
        await cp.boot()
        await send(cp, "MeterValues", meter_values(1000))
        before = await sync_to_async(ChargePoint.objects.get)(charge_point_id=cp_id)

        database_proxy.cut()

        # Calls that need the database: InternalError (OCPP-J 1.6 §4.2.3), not a close.
        for wh in (2000, 2001):
            frame = await answer_to(cp, "MeterValues", meter_values(wh))
            assert frame[0] == 4 and frame[2] == "InternalError", frame
        assert cp._connection.close_code is None

        database_proxy.restore()

        # Back: calls are handled and stored again, on the same socket.
        async def stored_again() -> bool:
            frame = await answer_to(cp, "MeterValues", meter_values(3000))
            return frame[0] == 3

        for _ in range(50):
            if await stored_again():
                break
        assert await sync_to_async(
            MeterSample.objects.filter(charge_point__charge_point_id=cp_id, value="3000").exists
        )()
        answer = await commands.send(cp_id, call.ClearCache(), timeout=10)
        assert answer.status == "Accepted"
        assert cp._connection.close_code is None
        # Read while connected: a closed connection leaves the charger to none.
        after = await sync_to_async(ChargePoint.objects.get)(charge_point_id=cp_id)
    assert after.connection_id == before.connection_id
    # What was stored before the outage is still there.
    assert await eventually(
        lambda: MeterSample.objects.filter(
            charge_point__charge_point_id=cp_id, value="1000"
        ).exists()
    )
