"""A local stand-in for a browser's push service, and a browser's side of a subscription.

`PushService` is a plain HTTP server on 127.0.0.1 that records every message posted to it
and answers with the status a test sets (201, or 410 for a subscription that is gone).
`Browser` holds what a browser keeps for a subscription (a P-256 key pair and a 16-byte
auth secret), checks a message's VAPID JWT against the server's public key (RFC 8292)
and decrypts its body (RFC 8291, aes128gcm) as the browser would.
"""

import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from notifications import webpush
from tests.http_stand_in import QuietHandler, StandIn

# The server's VAPID keys in the tests (the `push_service` fixture turns them on).
PUBLIC_KEY, PRIVATE_KEY = webpush.generate_keys()
VAPID = {
    "WEBPUSH_VAPID_PUBLIC_KEY": PUBLIC_KEY,
    "WEBPUSH_VAPID_PRIVATE_KEY": PRIVATE_KEY,
    "WEBPUSH_VAPID_SUBJECT": "mailto:ops@example.com",
    "WEBPUSH_ALLOW_HTTP_ENDPOINTS": True,
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """Messages posted to http://127.0.0.1:<port>/<anything>, answered with `status`."""

    status: int = 201
    received: list[Received] = field(default_factory=list)

    def start(self) -> "PushService":
        service = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                service.received.append(
                    Received(
                        self.path,
                        {name.lower(): value for name, value in self.headers.items()},
                        self.rfile.read(length),
                    )
                )
                self.send_response(service.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.stand_in = StandIn(Handler)
        return self

    def stop(self) -> None:
        self.stand_in.stop()

    @property
    def origin(self) -> str:
        return self.stand_in.origin

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"


class Browser:
    """A browser's keys for one subscription (what PushManager.subscribe() makes)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def keys(self) -> dict[str, str]:
        """As the subscription's toJSON() has them."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def decrypt(self, message: Received) -> dict[str, Any]:
        """The message as the service worker reads it (RFC 8291, aes128gcm)."""
        assert message.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            message.body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


def vapid_claims(message: Received, public_key: str) -> dict[str, Any]:
    """The claims of the message's VAPID JWT, after checking it was signed by the key
    whose public half is `public_key` (ES256, RFC 8292 §2) and names that key (k=)."""
    scheme, _, params = message.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    assert values["k"] == public_key
    header_b64, payload_b64, signature_b64 = values["t"].split(".")
    assert json.loads(b64url_decode(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = b64url_decode(signature_b64)
    assert len(signature) == 64  # JWS ES256: r and s, 32 octets each
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public_key))
    # Raises InvalidSignature for any other key or a changed token.
    key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(b64url_decode(payload_b64))
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600  # RFC 8292 §2
    return claims
