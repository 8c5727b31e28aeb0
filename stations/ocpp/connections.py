"""Who may connect, which connection owns a charge point, and its connection state
(server times only)."""

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from chargehub.compiled_queries import CompiledQuery
from stations import bulk_insert, certificates, signals, statements
from stations.models import ChargePoint, ConnectionEvent, RefusedConnection

logger = logging.getLogger(__name__)

# A charge point id travels in the URL; keep it to characters that need no escaping
# in logs, admin URLs and channel group names (OCPP 1.6: chargeBoxIdentity, max 48 in
# practice, CiString in SOAP; OCPP 2.0.1 Part 4 §3.1.1 allows unreserved URL characters).
CHARGE_POINT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,48}$")


# The refusal staff can act on: register the charger (admin: refused connections).
UNKNOWN_CHARGE_POINT = "unknown charge point id"


def basic_auth_credentials(headers: list[tuple[bytes, bytes]]) -> tuple[str, str] | None:
    """(username, password) from an HTTP Basic Authorization header, if there is one."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, separator, password = decoded.partition(":")
        return (username, password) if separator else None
    return None


@dataclass(frozen=True)
class TransportSecurity:
    """How a connection reached us: over TLS or not, with which client certificate (PEM)."""

    tls: bool = False
    client_certificate: str = ""

    @property
    def profile(self) -> int:
        """The whitepaper's security profile this connection offers: 3 with a client
        certificate, 2 over TLS, 1 otherwise (Basic auth is checked apart)."""
        return 3 if self.client_certificate else 2 if self.tls else 1


def transport_security(scope: dict[str, Any]) -> TransportSecurity:
    """TLS and client certificate of a WebSocket handshake.

    Served directly (`manage.py serve --tls-port`), the TLS layer puts them in the ASGI
    TLS extension (chargehub/tls.py). Behind a trusted TLS proxy (TRUSTED_PROXY_COUNT > 0)
    they come in headers only that proxy sets: SECURE_PROXY_SSL_HEADER for TLS, and
    OCPP_PROXY_CLIENT_CERT_HEADER for the verified certificate, URL-encoded PEM as nginx's
    $ssl_client_escaped_cert. Without a trusted proxy both headers are ignored.
    """
    tls = scope.get("extensions", {}).get("tls")
    if tls is not None:
        chain = tls.get("client_cert_chain") or []
        return TransportSecurity(tls=True, client_certificate=chain[0] if chain else "")
    if settings.TRUSTED_PROXY_COUNT <= 0:
        return TransportSecurity()
    headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    secure = False
    if proxy_ssl_header := getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        meta_name, https_value = proxy_ssl_header
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        secure = headers.get(name, "").strip() == https_value
    certificate = ""
    if settings.OCPP_PROXY_CLIENT_CERT_HEADER and secure:
        name = settings.OCPP_PROXY_CLIENT_CERT_HEADER.lower().encode("latin-1")
        certificate = unquote(headers.get(name, "").strip())
    return TransportSecurity(tls=secure, client_certificate=certificate)


# Read at every connect attempt (a storm's thousands): its SQL built once, not per call.
CHARGE_POINT = CompiledQuery(
    lambda charge_point_id: ChargePoint.objects.filter(charge_point_id=charge_point_id)[:1]
)


def admit(
    charge_point_id: str,
    credentials: tuple[str, str] | None,
    protocol: str,
    security: TransportSecurity = TransportSecurity(),
) -> tuple[ChargePoint | None, str]:
    """Decide whether a WebSocket upgrade for `charge_point_id` is let in.

    Returns the charge point, or None and the reason it was refused (for the log only:
    a refused charger learns nothing but the refusal).
    """
    if not CHARGE_POINT_ID_PATTERN.match(charge_point_id):
        return None, "invalid charge point id"
    if security.client_certificate:
        # Profile 3: the certificate is the charger's identity; one that is not this
        # charger's (another charger's, expired, of another CA, revoked) never gets in.
        if refusal := certificates.client_certificate_refusal(
            charge_point_id, security.client_certificate
        ):
            return None, refusal
    charge_point = CHARGE_POINT.first(charge_point_id=charge_point_id)
    if credentials is not None and credentials[0] != charge_point_id:
        return None, "Basic auth username is not the charge point id"
    # Security whitepaper: a charger never falls back to a lower profile than it had.
    if charge_point is not None and security.profile < charge_point.security_profile:
        return None, (
            f"security profile {charge_point.security_profile} required, "
            f"connection offers {security.profile}"
        )

    if charge_point is None:
        if not settings.OCPP_ALLOW_UNKNOWN_CHARGERS:
            return None, UNKNOWN_CHARGE_POINT
        # Trust on first use: the password it presents becomes its password once staff
        # approve it; until then BootNotification answers Pending.
        charge_point = ChargePoint(
            charge_point_id=charge_point_id,
            registration_status=ChargePoint.Registration.PENDING,
            protocol=protocol,
        )
        if credentials is not None:
            charge_point.set_password(credentials[1])
        charge_point.save()
        logger.info("Unknown charge point %s admitted as Pending", charge_point_id)
        return charge_point, ""

    if charge_point.registration_status == ChargePoint.Registration.REJECTED:
        return None, "charge point is rejected"
    if security.profile == 3:
        _raise_profile(charge_point, security.profile)
        return charge_point, ""  # the certificate was its authentication
    if charge_point.allow_unauthenticated:
        # Staff chose security profile 0 for this charger; say so at every connection.
        logger.warning(
            "%s connects without authentication: security profile 0 is allowed for it "
            "(test benches only)",
            charge_point_id,
        )
        return charge_point, ""
    if not charge_point.password_hash:
        if charge_point.registration_status == ChargePoint.Registration.PENDING:
            # Came without credentials while unknown chargers were let in: it may wait
            # for staff, who must give it a password to accept it; the consumer never
            # treats this connection as accepted (OcppConsumer.authenticated).
            return charge_point, ""
        return None, "charge point has no password (set one in admin)"
    if credentials is None:
        return None, "no Basic auth credentials"
    if not charge_point.check_password(credentials[1]):
        return None, "wrong password"
    _raise_profile(charge_point, security.profile)
    return charge_point, ""


def _raise_profile(charge_point: ChargePoint, profile: int) -> None:
    """A charger that came in at a higher profile may never come back lower (the security
    whitepaper allows only upgrades of the security profile)."""
    if profile > charge_point.security_profile:
        ChargePoint.objects.filter(pk=charge_point.pk, security_profile__lt=profile).update(
            security_profile=profile
        )
        charge_point.security_profile = profile
        logger.info("%s: security profile raised to %d", charge_point.charge_point_id, profile)


def record_refusal(charge_point_id: str, address: str, reason: str) -> None:
    """Count a refused attempt, so staff see who knocks (admin: refused connections)."""
    if not CHARGE_POINT_ID_PATTERN.match(charge_point_id):
        # Escaped and cut: it came from a URL and may hold anything, NUL included.
        charge_point_id = ascii(charge_point_id)[:48]
    now = timezone.now()
    same = RefusedConnection.objects.filter(
        charge_point_id=charge_point_id, address=address[:45], reason=reason[:100]
    )
    for _attempt in range(2):
        if same.update(count=F("count") + 1, last_at=now):
            return
        try:
            with transaction.atomic():
                RefusedConnection.objects.create(
                    charge_point_id=charge_point_id,
                    address=address[:45],
                    reason=reason[:100],
                    first_at=now,
                    last_at=now,
                )
            return
        except IntegrityError:
            continue  # another attempt of the same charger created it a moment ago


def mark_connected(charge_point: ChargePoint, connection_id: str, protocol: str) -> bool:
    """Make this connection the charger's owner: the last one written wins. True when it
    took the charger from no connection (never connected, or its last one closed).

    Each write is one statement (statements.record_connected, with the online history's
    row), so concurrent connections (in any process) are ordered by the database; every
    other connection of the charger finds out with is_owner() and closes. A connection that
    took the charger from no one need not tell anyone: any connection written after it
    took it from this one, and tells the group.
    """
    now = timezone.now()
    connected = {
        "is_connected": True,
        "connection_id": connection_id,
        "connected_at": now,
        "last_seen_at": now,
        "protocol": protocol,
    }
    event = ConnectionEvent(charge_point=charge_point, kind=ConnectionEvent.Kind.CONNECTED, at=now)
    alone = statements.record_connected(charge_point.pk, connected, event)
    _announce_connection(charge_point, ConnectionEvent.Kind.CONNECTED, now)
    return alone


def mark_disconnected(charge_point_id: str, connection_id: str) -> None:
    """Mark the charger gone and owned by no connection (see mark_connected)."""
    # Only the connection that is current may mark the charger gone: when a second
    # connection replaced the first, the first one's close must not hide the second.
    # A charger deleted before this (staff, a test's flush) updates no row: nothing to do.
    # One transaction: the UPDATE locks the row, so a deletion meanwhile waits for the
    # disconnect to be recorded (and takes it along) instead of the read finding no row.
    now = timezone.now()
    current = ChargePoint.objects.filter(
        charge_point_id=charge_point_id, connection_id=connection_id
    )
    with transaction.atomic():
        if current.update(is_connected=False, disconnected_at=now, connection_id=""):
            charge_point = CHARGE_POINT.get(charge_point_id=charge_point_id)
            record_connection(charge_point, ConnectionEvent.Kind.DISCONNECTED, now)


def record_connection(charge_point: ChargePoint, kind: str, at: datetime) -> None:
    """Keep the online history (ConnectionEvent) and tell listeners after commit."""
    # Its INSERT built once (a connect storm writes thousands; #17's profile).
    bulk_insert.insert_one(ConnectionEvent(charge_point=charge_point, kind=kind, at=at))
    _announce_connection(charge_point, kind, at)


def _announce_connection(charge_point: ChargePoint, kind: str, at: datetime) -> None:
    signal = (
        signals.charge_point_connected
        if kind == ConnectionEvent.Kind.CONNECTED
        else signals.charge_point_disconnected
    )
    signals.announce(signal, ChargePoint, charge_point=charge_point, at=at)


# A connection's own charge point: asked at every replaced connect and sign of life.
OWNED = CompiledQuery(
    lambda charge_point_id, connection_id: ChargePoint.objects.filter(
        charge_point_id=charge_point_id, connection_id=connection_id
    )
)
# The same while it is connected: a sign of life's UPDATE (every charger's, every 30 s).
OWNED_CONNECTED = CompiledQuery(
    lambda charge_point_id, connection_id: ChargePoint.objects.filter(
        charge_point_id=charge_point_id, connection_id=connection_id, is_connected=True
    )
)


def is_owner(charge_point_id: str, connection_id: str) -> bool:
    """Whether this connection is the one that holds the charger (see mark_connected)."""
    return OWNED.exists(charge_point_id=charge_point_id, connection_id=connection_id)


def mark_seen(charge_point_id: str, connection_id: str, when: datetime) -> ChargePoint | None:
    """Note a sign of life; the charge point as stored now (staff may have changed it),
    or None when another connection owns the charger by now. One statement (an UPDATE
    returning the row, built once) unless the charger comes back online."""
    owner = {"charge_point_id": charge_point_id, "connection_id": connection_id}
    seen = OWNED_CONNECTED.update({"last_seen_at": when}, **owner)
    if seen:
        return seen[0]
    # Rare: liveness marked the charger offline while it was silent, and it speaks again.
    back = OWNED.update({"last_seen_at": when, "is_connected": True}, **owner)
    if back:
        record_connection(back[0], ConnectionEvent.Kind.CONNECTED, when)
        return back[0]
    return None


def charge_point_group(charge_point_id: str) -> str:
    """The channel-layer group of the consumer that holds a charger's socket.

    Group names allow only [a-zA-Z0-9._-]; ':' is valid in an id, so it is escaped.
    """
    return "ocpp.cp." + charge_point_id.replace("_", "__").replace(":", "_c")
