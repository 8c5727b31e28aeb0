"""Serve HTTP and the OCPP WebSocket endpoint with daphne or uvicorn, with ChargeHub's limits.

    python manage.py serve --host 0.0.0.0 --port 8000
    python manage.py serve --server uvicorn  # or OCPP_SERVER=uvicorn: less CPU per call
    python manage.py serve --fd 3          # a socket handed over by systemd or a supervisor
    python manage.py serve --workers 4     # four processes on one port (SO_REUSEPORT)
    python manage.py serve --tls-port 8443 # and TLS (OCPP security profiles 2 and 3)

Several of these processes can serve one site, on one port (--workers, see
chargehub/server_processes.py) or behind a load balancer; with REDIS_URL or
REDIS_SENTINELS set, a command reaches a charger whichever process holds its socket.
Daphne is the default; uvicorn (chargehub/servers.py) serves the same application with the
same limits, for less CPU per call, but not --tls-port. Neither server's own proxy headers
are used: they take the client's address from the left of X-Forwarded-For, which the
client writes. Behind a proxy, settings read the headers
instead (TRUSTED_PROXY_COUNT, SECURE_PROXY_SSL_HEADER). With --tls-port (or OCPP_TLS_PORT) it also
serves TLS itself (daphne only), verifying chargers' client certificates (chargehub/tls.py).
"""

import gc
import importlib
import pprint
import resource
import threading
import time
from collections.abc import Callable
from typing import Any

from autobahn import util as autobahn_util
from autobahn.twisted import websocket as autobahn_twisted_websocket
from autobahn.websocket import protocol as autobahn_protocol
from daphne import server as daphne_server
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chargehub import tls
from chargehub.server_processes import Workers
from chargehub.servers import SERVERS, daphne_arguments, run_uvicorn

# Seconds between full garbage collections of a serving process (see
# collect_old_garbage_on_schedule): each pauses every call of the process, 1-3 s with
# 5,000 chargers connected, so they come once an hour instead of every few minutes.
FULL_COLLECTION_INTERVAL = 3600.0
# Sooner when the process's peak memory has grown by this factor since the last one: a
# storm of failed handshakes leaves reference cycles that must not wait an hour.
FULL_COLLECTION_GROWTH = 1.25
# A threshold the oldest generation's count never reaches: Python never starts a full
# collection by itself.
NEVER = 2**31 - 1


class ClosingWebSocketFactory(WebSocketFactory):
    """Daphne's WebSocket factory, but a connection that breaks a limit is closed, not dropped.

    Autobahn fails a connection by dropping TCP by default, so a charger whose frame is
    over the size limit would see 1006 and learn nothing; with the closing handshake it
    gets 1009 "message too big" (RFC 6455 §7.4.1). The application itself cannot send
    1009: autobahn lets it close with 1000 or 3000-4999 only.
    """

    def setProtocolOptions(self, **options: Any) -> None:
        super().setProtocolOptions(**options, failByDrop=False)


class LazyLogText:
    """function(value), computed only if a log line is written with it.

    Autobahn computes its debug lines' arguments whether the line is written or not: it
    pretty-printed every new WebSocket's ~40 options (its `_connectionMade`: 6.6 % of a
    `serve` process's CPU in a connect storm) and colours names and numbers (click) for
    every frame received and sent (1 % of a busy process, docs/performance.md). With
    this in their place the text is made only when autobahn's debug logging is on.
    """

    __slots__ = ("args", "function")

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function = function
        self.args = args

    def __str__(self) -> str:
        return str(self.function(*self.args))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def lazily(function: Callable[..., Any]) -> Callable[..., LazyLogText]:
    return lambda *args: LazyLogText(function, *args)


def collect_old_garbage_on_schedule(interval: float = FULL_COLLECTION_INTERVAL) -> None:
    """Leave the objects that outlive many calls to a full collection every `interval` s.

    Python collects its oldest generation whenever it has grown by a quarter since the
    last time. A process holding thousands of chargers keeps millions of objects alive as
    long as their sockets (weeks), and a full collection walks them all with the process
    stopped: 0.5-3 s at 2,000-5,000 chargers, the held chargers' p99 of seconds
    (docs/performance.md, #17). So the objects start-up made (modules, classes, the
    application) are frozen out of every collection, Python collects only the young
    generations by itself, and a thread collects everything else every `interval`
    seconds, or as soon as the process's peak memory has grown by FULL_COLLECTION_GROWTH
    since the last time, freeing the reference cycles of closed connections.
    """
    gc.collect()
    gc.freeze()  # they live as long as the process: no collection need walk them
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)

    def peak_memory() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def collect() -> None:
        collected_at, peak = time.monotonic(), peak_memory()
        while True:
            time.sleep(min(interval, 1.0))
            grown = peak_memory() > peak * FULL_COLLECTION_GROWTH
            if grown or time.monotonic() - collected_at >= interval:
                gc.collect()
                collected_at, peak = time.monotonic(), peak_memory()

    threading.Thread(target=collect, name="full-garbage-collection", daemon=True).start()


class Command(BaseCommand):
    help = "Serve the web app and the OCPP endpoint (daphne, or uvicorn)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--server",
            choices=SERVERS,
            default=settings.OCPP_SERVER,
            help="The ASGI server (OCPP_SERVER; daphne by default). uvicorn takes less CPU"
            " per call but cannot serve --tls-port",
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--fd", type=int, help="Serve on an inherited socket file descriptor")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="Processes sharing the port (SO_REUSEPORT); use REDIS_URL or REDIS_SENTINELS"
            " with more than one",
        )
        parser.add_argument(
            "--tls-port",
            type=int,
            default=settings.OCPP_TLS_PORT,
            help="Also serve TLS on this port (OCPP_TLS_CERTIFICATE, OCPP_TLS_KEY; client "
            "certificates checked against OCPP_CA_CERTIFICATE)",
        )
        parser.add_argument(
            "--no-access-log",
            action="store_true",
            help="Print no line per request (make run's default; a proxy logs them anyway)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and settings.SECRET_KEY == settings.DEVELOPMENT_SECRET_KEY:
            raise CommandError("Set SECRET_KEY: the development key is only for DEBUG=1.")
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        if options["tls_port"]:
            if options["server"] != "daphne":
                # Security profile 3's client certificate check is daphne's (chargehub/tls.py).
                raise CommandError(
                    f"--server {options['server']} cannot serve --tls-port (OCPP_TLS_PORT):"
                    " serve TLS with daphne or terminate it at nginx."
                )
            if not settings.OCPP_TLS_CERTIFICATE or not settings.OCPP_TLS_KEY:
                raise CommandError("Set OCPP_TLS_CERTIFICATE and OCPP_TLS_KEY to serve TLS.")
        if options["workers"] > 1:
            if options["tls_port"]:
                # Each worker would need the TLS port too; serve TLS with one process
                # per port, or terminate it at nginx (README, TLS and charger certificates).
                raise CommandError("--workers cannot serve --tls-port; use nginx for TLS.")
            if options["fd"] is not None:
                raise CommandError("--workers opens its own sockets; it cannot take --fd.")
            quiet = ["--no-access-log"] if options["no_access_log"] else []
            arguments = ["--server", options["server"], *quiet]
            try:
                workers = Workers(options["host"], options["port"], options["workers"], arguments)
            except OSError as error:
                where = f"{options['host']}:{options['port']}"
                raise CommandError(f"Cannot listen on {where}: {error}") from None
            workers.run()
            return
        # The application the server loads, imported now so that it is frozen with start-up.
        importlib.import_module(settings.ASGI_APPLICATION.rsplit(".", 1)[0])
        collect_old_garbage_on_schedule()
        if options["server"] == "uvicorn":
            run_uvicorn(
                options["host"], options["port"], options["fd"], not options["no_access_log"]
            )
            return
        daphne_server.WebSocketFactory = ClosingWebSocketFactory
        autobahn_protocol.pformat = lazily(pprint.pformat)
        for module in (autobahn_protocol, autobahn_twisted_websocket):
            module.hltype = lazily(autobahn_util.hltype)
            module.hlval = lazily(autobahn_util.hlval)
        # Timings.__str__ returns pformat(...) itself: it must stay a str.
        autobahn_protocol.Timings.__str__ = lambda timings: pprint.pformat(timings._timings)
        arguments = daphne_arguments(options["host"], options["port"], options["fd"])
        if options["tls_port"]:
            # Daphne builds its endpoints with Twisted's serverFromString: ours adds one
            # that verifies client certificates, which Twisted's strings cannot say.
            daphne_server.serverFromString = tls.server_from_string
            endpoint = tls.endpoint_description(options["host"], options["tls_port"])
            arguments = ["--endpoint", endpoint, *arguments]
        if options["no_access_log"]:
            # Daphne writes its access log at verbosity 1 and up; our logging is set up
            # by Django's LOGGING already, which the verbosity does not change.
            arguments = ["--verbosity", "0", *arguments]
        interface = CommandLineInterface()
        interface.server_class = tls.TlsAwareServer
        interface.run(arguments)
