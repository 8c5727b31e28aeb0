"""Chromium's push service, standing in: the Google Cloud Messaging (GCM) server that
Chromium's `pushManager.subscribe()` asks for a subscription.

Chromium subscribes in two steps, both over HTTP to addresses its command line may set:
it checks in (`--gcm-checkin-url`, a protobuf AndroidCheckinResponse naming the device:
android_id and security_token) and registers (`--gcm-registration-url`, a form post
answered `token=...`). The endpoint the page is given ends with that token, at Google's
host (`https://.../fcm/send/<token>`); without a network nothing is ever delivered there.
`--gcm-mcs-endpoint` (the socket that would bring pushes to the browser) points here
too, where no such service answers, so that Chromium never calls Google.
"""

import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qsl

# The device's identity after checkin; any non-zero numbers do (Chromium refuses zero).
ANDROID_ID = 4_000_001
SECURITY_TOKEN = 7_000_003


def checkin_response() -> bytes:
    """AndroidCheckinResponse (google_apis/gcm/protocol/checkin.proto): stats_ok (1, a
    varint), android_id (7) and security_token (8), both fixed64."""
    return (
        bytes([1 << 3 | 0, 1])
        + bytes([7 << 3 | 1])
        + struct.pack("<Q", ANDROID_ID)
        + bytes([8 << 3 | 1])
        + struct.pack("<Q", SECURITY_TOKEN)
    )


@dataclass
class Registration:
    """What Chromium registered for (its form: `sender`, for a web page the VAPID public
    key it subscribed with) and the token it was given."""

    form: dict[str, str]
    token: str


@dataclass
class GcmService:
    """Checkins and registrations at http://127.0.0.1:<port>, the latter kept in
    `registrations`."""

    registrations: list[Registration] = field(default_factory=list)

    def start(self) -> "GcmService":
        service, numbers = self, count(1)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/checkin":
                    self.answer(checkin_response(), "application/x-protobuf")
                elif self.path == "/register":
                    token = f"chargehub-e2e-{next(numbers)}"
                    form = dict(parse_qsl(body.decode()))
                    service.registrations.append(Registration(form, token))
                    self.answer(f"token={token}".encode(), "text/plain")
                else:
                    self.send_error(404)

            def answer(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def token_for(self, sender: str) -> str | None:
        """The token given to the last registration for `sender`."""
        tokens = [r.token for r in self.registrations if r.form.get("sender") == sender]
        return tokens[-1] if tokens else None

    def chromium_args(self) -> list[str]:
        """The switches that make Chromium's GCM client talk to this service."""
        host, port = self.server.server_address[:2]
        origin = f"http://{host}:{port}"
        return [
            f"--gcm-checkin-url={origin}/checkin",
            f"--gcm-registration-url={origin}/register",
            f"--gcm-mcs-endpoint=https://{host}:{port}",
        ]
