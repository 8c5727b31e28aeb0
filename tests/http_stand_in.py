"""A local HTTP server in a thread: the tests' stand-in for a service outside ChargeHub
(a push service, a webhook receiver, a spot-price feed)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps http.server's access log out of the test output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StandIn:
    """`handler` serving on a free port of 127.0.0.1 until `stop()`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
