"""Who may connect, which connection owns a charge point, and its connection state
(server times only)."""

import base64
import binascii
import logging
import re
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from stations import signals
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


def admit(
    charge_point_id: str, credentials: tuple[str, str] | None, protocol: str
) -> tuple[ChargePoint | None, str]:
    """Decide whether a WebSocket upgrade for `charge_point_id` is let in.

    Returns the charge point, or None and the reason it was refused (for the log only:
    a refused charger learns nothing but the refusal).
    """
    if not CHARGE_POINT_ID_PATTERN.match(charge_point_id):
        return None, "invalid charge point id"
    charge_point = ChargePoint.objects.filter(charge_point_id=charge_point_id).first()
    if credentials is not None and credentials[0] != charge_point_id:
        return None, "Basic auth username is not the charge point id"

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
    return charge_point, ""


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


def mark_connected(charge_point: ChargePoint, connection_id: str, protocol: str) -> None:
    """Make this connection the charger's owner: the last one written wins.

    One UPDATE, so concurrent connections (in any process) are ordered by the database;
    every other connection of the charger finds out with is_owner() and closes.
    """
    now = timezone.now()
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        is_connected=True,
        connection_id=connection_id,
        connected_at=now,
        last_seen_at=now,
        protocol=protocol,
    )
    record_connection(charge_point, ConnectionEvent.Kind.CONNECTED, now)


def mark_disconnected(charge_point_id: str, connection_id: str) -> None:
    # Only the connection that is current may mark the charger gone: when a second
    # connection replaced the first, the first one's close must not hide the second.
    now = timezone.now()
    current = ChargePoint.objects.filter(
        charge_point_id=charge_point_id, connection_id=connection_id
    )
    if current.update(is_connected=False, disconnected_at=now):
        charge_point = ChargePoint.objects.get(charge_point_id=charge_point_id)
        record_connection(charge_point, ConnectionEvent.Kind.DISCONNECTED, now)


def record_connection(charge_point: ChargePoint, kind: str, at: datetime) -> None:
    """Keep the online history (ConnectionEvent) and tell listeners after commit."""
    ConnectionEvent.objects.create(charge_point=charge_point, kind=kind, at=at)
    signal = (
        signals.charge_point_connected
        if kind == ConnectionEvent.Kind.CONNECTED
        else signals.charge_point_disconnected
    )
    signals.announce(signal, ChargePoint, charge_point=charge_point, at=at)


def is_owner(charge_point_id: str, connection_id: str) -> bool:
    """Whether this connection is the one that holds the charger (see mark_connected)."""
    return ChargePoint.objects.filter(
        charge_point_id=charge_point_id, connection_id=connection_id
    ).exists()


def mark_seen(charge_point_id: str, connection_id: str, when: datetime) -> bool:
    """Note a sign of life; False when another connection owns the charger by now."""
    owned = ChargePoint.objects.filter(charge_point_id=charge_point_id, connection_id=connection_id)
    if owned.filter(is_connected=True).update(last_seen_at=when):
        return True
    # Rare: liveness marked the charger offline while it was silent, and it speaks again.
    if owned.update(last_seen_at=when, is_connected=True):
        record_connection(owned.get(), ConnectionEvent.Kind.CONNECTED, when)
        return True
    return False


def charge_point_group(charge_point_id: str) -> str:
    """The channel-layer group of the consumer that holds a charger's socket.

    Group names allow only [a-zA-Z0-9._-]; ':' is valid in an id, so it is escaped.
    """
    return "ocpp.cp." + charge_point_id.replace("_", "__").replace(":", "_c")
