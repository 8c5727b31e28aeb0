"""Chromium's push service, standing in: the Google Cloud Messaging (GCM) server that
Chromium's `pushManager.subscribe()` registers at, and the host the application server
then posts its pushes to.

Chromium subscribes in two steps, both over HTTP to addresses its command line may set:
it checks in (`--gcm-checkin-url`, a protobuf AndroidCheckinResponse naming the device:
android_id and security_token) and registers (`--gcm-registration-url`, a form post
naming the VAPID key as `sender`, answered `token=...`). The page's endpoint is that
token at Google's host (`https://<host>/fcm/send/<token>`). `--gcm-mcs-endpoint` (the
socket that would bring pushes to the browser) points here too, where none answers, so
that Chromium never calls Google.

The server under test reaches Google's host through this service as its HTTPS proxy
(`server_env()`): a CONNECT is answered with TLS under a certificate for that host from
a root of this service (the server's REQUESTS_CA_BUNDLE), and the push is kept in
`pushes`. Nothing reaches the browser: that would be the socket above.
"""

import ssl
import struct
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from urllib.parse import parse_qsl

from cryptography import x509

from stations import certificates
from tests.http_stand_in import QuietHandler, StandIn
from tests.notifications.push_service import Received
from tests.pki import server_certificate

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
class Push:
    """A push the application server posted, and the host it was for."""

    host: str
    message: Received


@dataclass
class GcmService:
    """Checkins, registrations and pushes at http://127.0.0.1:<port>; its root
    certificate is written into `folder`."""

    folder: Path
    registrations: list[Registration] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)

    def start(self) -> "GcmService":
        service, numbers = self, count(1)
        root_pem, root_key_pem = certificates.create_ca("Test push service root", 1)
        self.root = self.folder / "push-root.pem"
        self.root.write_bytes(root_pem)

        def tls_for(host: str) -> ssl.SSLContext:
            certificate, key = server_certificate(root_pem, root_key_pem, x509.DNSName(host))
            (self.folder / f"{host}.pem").write_bytes(certificate + key)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.folder / f"{host}.pem")
            return context

        class Handler(QuietHandler):
            host = ""

            def do_CONNECT(self) -> None:
                # The rest of the connection is TLS to that host, then plain HTTP inside.
                self.host = self.path.rpartition(":")[0]
                self.send_response(200)
                self.end_headers()
                self.connection = tls_for(self.host).wrap_socket(self.connection, server_side=True)
                self.rfile = self.connection.makefile("rb")
                self.wfile = self.connection.makefile("wb")
                self.close_connection = False

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/checkin":
                    self.answer(200, checkin_response(), "application/x-protobuf")
                elif self.path == "/register":
                    token = f"chargehub-e2e-{next(numbers)}"
                    form = dict(parse_qsl(body.decode()))
                    service.registrations.append(Registration(form, token))
                    self.answer(200, f"token={token}".encode(), "text/plain")
                elif self.host and self.path.startswith("/fcm/send/"):
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    service.pushes.append(Push(self.host, Received(self.path, headers, body)))
                    self.answer(201, b"", "text/plain")
                else:
                    self.send_error(404)

            def answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.stand_in = StandIn(Handler)
        return self

    def stop(self) -> None:
        self.stand_in.stop()

    @property
    def origin(self) -> str:
        return self.stand_in.origin

    def token_for(self, sender: str) -> str | None:
        """The token given to the last registration for `sender`."""
        tokens = [r.token for r in self.registrations if r.form.get("sender") == sender]
        return tokens[-1] if tokens else None

    def chromium_args(self) -> list[str]:
        """The switches that make Chromium's GCM client talk to this service."""
        return [
            f"--gcm-checkin-url={self.origin}/checkin",
            f"--gcm-registration-url={self.origin}/register",
            f"--gcm-mcs-endpoint={self.origin.replace('http:', 'https:')}",
        ]

    def server_env(self) -> dict[str, str]:
        """The application server's environment that sends its pushes here (requests
        takes the proxy and the trusted roots from it); local addresses stay direct."""
        return {
            "HTTPS_PROXY": self.origin,
            "NO_PROXY": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(self.root),
        }
