"""Which ASGI server `manage.py serve` runs, and ChargeHub's limits for each.

Daphne is the default (the design names it, and only it serves TLS with the charger's
client certificate, chargehub/tls.py). uvicorn (websockets, uvloop, httptools) serves the
same application with the same limits for about three quarters of the CPU per OCPP call
(docs/performance.md, fifth session): choose it with `serve --server uvicorn` or
OCPP_SERVER=uvicorn where TLS ends at a proxy. Each limit is written once below and
handed to either server in its own terms.
"""

import asyncio
import logging
import os
import socket
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from django.conf import settings

from chargehub.server_processes import LISTEN_BACKLOG

SERVERS = ("daphne", "uvicorn")

# Seconds between the server's pings of a WebSocket (daphne: of a quiet one), and how long
# it waits for the pong before closing it: how a dead charger's socket is found.
PING_INTERVAL = 60
PING_TIMEOUT = 120
# In a reconnection storm handshakes queue for the database and the channel layer; the
# servers' 5 s (daphne) or 10 s (websockets) would drop them unanswered. A charger is let
# in or refused (403) within this many seconds.
HANDSHAKE_TIMEOUT = 30
# After a socket closes, its consumer's disconnect marks the charger gone; in a storm
# those queue for the database, and daphne's 10 s would kill them first, leaving
# chargers shown connected with no socket. (uvicorn never cuts a disconnect short.)
APPLICATION_CLOSE_TIMEOUT = 60
# After SIGTERM, uvicorn's consumers have this long to mark their chargers gone; within
# the supervisor's STOP_TIMEOUT (chargehub/server_processes.py) before it kills.
SHUTDOWN_TIMEOUT = 5

logger = logging.getLogger("uvicorn.error")


def asgi_application_path() -> str:
    """settings.ASGI_APPLICATION as the servers name it: "module:attribute"."""
    module, attribute = settings.ASGI_APPLICATION.rsplit(".", 1)
    return f"{module}:{attribute}"


def daphne_arguments(host: str, port: int, fd: int | None = None) -> list[str]:
    """Daphne's command line with ChargeHub's limits."""
    limit = str(settings.OCPP_MAX_FRAME_BYTES)
    arguments = [
        # A frame over the limit closes the socket with 1009 before it is buffered
        # whole (RFC 6455 §7.4.1); the consumer checks again for other servers.
        "--websocket-max-message-size",
        limit,
        "--websocket-max-frame-size",
        limit,
        "--ping-interval",
        str(PING_INTERVAL),
        "--ping-timeout",
        str(PING_TIMEOUT),
        "--websocket_connect_timeout",
        str(HANDSHAKE_TIMEOUT),
        # A charger stays connected for weeks; daphne would close every socket after a
        # day (its default). Dead sockets are found by the pings above.
        "--websocket_timeout",
        "-1",
        "--application-close-timeout",
        str(APPLICATION_CLOSE_TIMEOUT),
    ]
    if fd is not None:
        arguments += ["--fd", str(fd)]  # its backlog is set by whoever listens on it
    else:
        # Twisted listens with a backlog of 50: in a storm the kernel drops the SYNs
        # beyond it, and each dropped charger waits 1, 3, 7 s... for TCP to try again
        # before its handshake has even started. The kernel caps it at somaxconn.
        interface = host.strip("[]").replace(":", r"\:")
        endpoint = f"tcp:port={port}:interface={interface}:backlog={LISTEN_BACKLOG}"
        arguments += ["--endpoint", endpoint]
    return [*arguments, asgi_application_path()]


def ocpp_websocket_protocol(**arguments: Any) -> asyncio.Protocol:
    """uvicorn's `websockets` protocol, waiting HANDSHAKE_TIMEOUT for the consumer's accept
    or refusal (websockets' open_timeout, which uvicorn leaves at 10 s)."""
    with warnings.catch_warnings():
        # Deprecated in favour of uvicorn's sans-I/O protocol, which served a quarter
        # fewer calls/s (docs/performance.md, fifth session).
        warnings.simplefilter("ignore", DeprecationWarning)
        from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol
    protocol = WebSocketProtocol(**arguments)
    protocol.open_timeout = HANDSHAKE_TIMEOUT
    return protocol


def uvicorn_config(host: str, port: int, access_log: bool = True) -> uvicorn.Config:
    """uvicorn's configuration with ChargeHub's limits."""
    return uvicorn.Config(
        asgi_application_path(),
        host=host,
        port=port,
        interface="asgi3",
        loop="uvloop",
        http="httptools",
        ws=ocpp_websocket_protocol,  # type: ignore[arg-type]  # called as the class would be
        # Over the limit: closed with 1009 before it is buffered whole (RFC 6455 §7.4.1).
        ws_max_size=settings.OCPP_MAX_FRAME_BYTES,
        ws_ping_interval=PING_INTERVAL,
        ws_ping_timeout=PING_TIMEOUT,
        # As daphne: no compression offered (CPU per frame for frames of a few hundred bytes).
        ws_per_message_deflate=False,
        # Django's ASGI handler answers no lifespan events.
        lifespan="off",
        # The client's address is the socket's: X-Forwarded-For is written by the client,
        # and the app trusts it only behind TRUSTED_PROXY_COUNT proxies (client_address.py).
        proxy_headers=False,
        server_header=False,
        backlog=LISTEN_BACKLOG,
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT,
        # Django's LOGGING handles uvicorn's loggers, as every other library's.
        log_config=None,
        access_log=access_log,
    )


class UvicornServer(uvicorn.Server):
    """uvicorn's server, saying when it listens (as daphne's "Listening on" line does)
    and sizing the database threads by ASGI_THREADS (as daphne does)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if threads := os.environ.get("ASGI_THREADS"):
            # The pool the consumers' database calls run in (stations/ocpp/database.py);
            # unset, Python's default as under daphne.
            asyncio.get_running_loop().set_default_executor(
                ThreadPoolExecutor(max_workers=int(threads))
            )
        await super().startup(sockets=sockets)
        for server in self.servers:
            for listener in server.sockets:
                logger.info("Listening on %s", listener.getsockname())


def run_uvicorn(host: str, port: int, fd: int | None, access_log: bool) -> None:
    """Serve with uvicorn on (host, port), or on the inherited listening socket `fd`."""
    # uvicorn's own --fd takes the socket for a Unix one; this asks the kernel its family.
    sockets = [socket.socket(fileno=fd)] if fd is not None else None
    UvicornServer(uvicorn_config(host, port, access_log)).run(sockets=sockets)
