"""OCPP 1.6 handlers: one plain function per action a charge point sends.

Each handler gets the charge point, the validated payload (camelCase, as on the wire)
and the server's receive time; it runs inside one database transaction (none of its own
for WITHOUT_TRANSACTION, whose writes each stand alone) and returns the CALLRESULT
payload. Raising rpc.OcppError answers with a CALLERROR instead.
Section numbers refer to the OCPP 1.6 specification (edition 2).
"""

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from chargehub.compiled_queries import CompiledQuery
from stations import certificates, meter_samples, sessions, signals, statements
from stations.authorization import id_tag_info, normalize_id_tag, token_info
from stations.clock import trusted_time
from stations.models import (
    ChargePoint,
    ChargingSession,
    Connector,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    MeterSample,
    SecurityEvent,
    StatusEvent,
)
from stations.ocpp.rpc import OcppError, format_datetime, parse_datetime
from users.models import IdToken

logger = logging.getLogger(__name__)

Payload = dict[str, Any]
Handler = Callable[[ChargePoint, Payload, datetime], Payload]

# Highest connector id a charger may report. Ids come from the charger and create rows,
# so they are bounded (a real charger has a handful).
MAX_CONNECTOR_ID = 32

HANDLERS: dict[str, Handler] = {}

# Handlers that run without a transaction of their own: on PostgreSQL its BEGIN and COMMIT
# are round trips of their own, half of a MeterValues call's (docs/performance.md). Each
# of their writes stands alone, none needs undoing if a later one fails: MeterValues may
# create its connector (get_or_create), then stores its samples (a retransmitted one is
# skipped; the COPY path has its own transaction); a refused Authorize has a listener
# store it (insights' RefusedStart); StatusNotification may create its connector, then
# stores its event and the connector's status in one statement (stations/statements.py;
# in a transaction of its own on SQLite); BootNotification reads the registration and
# writes the boot in one statement too (statements.record_boot; idem on SQLite).
WITHOUT_TRANSACTION = {
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
}
# Handlers that touch no database: the consumer runs them on its event loop. A hop to a
# database thread and back costs more CPU than the handler itself, and Heartbeats are
# about a quarter of a fleet's calls (docs/performance.md).
WITHOUT_DATABASE = {"DataTransfer", "Heartbeat"}

# Every action OCPP 1.6 (with the security whitepaper) defines. One a charger sends that
# is here but has no handler is NotSupported; one that is not here is NotImplemented
# (OCPP-J 1.6 §4.2.3).
ACTIONS = {
    "Authorize",
    "BootNotification",
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "Heartbeat",
    "MeterValues",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    # Security whitepaper extensions to 1.6.
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware",
}

# The commands a central system sends a 1.6 charger (stations/ocpp/commands.py).
COMMANDS = {
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
    # Security whitepaper extensions to 1.6.
    "GetLog",
    "SignedUpdateFirmware",
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "InstallCertificate",
}


def handles(action: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[action] = function
        return function

    return register


def handle(
    charge_point: ChargePoint, action: str, payload: Payload, received_at: datetime
) -> Payload:
    """Run the handler for `action` in one transaction (WITHOUT_TRANSACTION: none of its
    own); the consumer calls this in a thread (WITHOUT_DATABASE: on its event loop).

    The connectors and sessions it finds in `charge_point.connectors_by_id` and
    `sessions_by_id` may be stale: one deleted in admin since, or one created or changed
    in a transaction that was rolled back. When a call fails in any way, they are read
    again; a refusal for a row that is gone (IntegrityError) is retried once with fresh
    rows, as the call was rolled back whole.
    """
    cached = any(kept in charge_point.__dict__ for kept in ("connectors_by_id", "sessions_by_id"))
    try:
        if action in WITHOUT_TRANSACTION:
            return HANDLERS[action](charge_point, payload, received_at)
        with transaction.atomic():
            return HANDLERS[action](charge_point, payload, received_at)
    except DatabaseError as error:
        charge_point.forget_rows()
        if not (isinstance(error, IntegrityError) and cached):
            raise
    except Exception:  # OcppError (a CALLERROR) or a bug: its writes were rolled back
        charge_point.forget_rows()
        raise
    logger.info("%s: %s retried with its connectors read again", charge_point, action)
    return handle(charge_point, action, payload, received_at)


# --- Helpers shared by the handlers -------------------------------------------------------


def _connector(charge_point: ChargePoint, connector_id: int, *, allow_zero: bool) -> Connector:
    """The connector a charger names, created at its first mention; from the charge
    point's connectors read once (ChargePoint.connectors_by_id), not a query per call."""
    lowest = 0 if allow_zero else 1
    if not lowest <= connector_id <= MAX_CONNECTOR_ID:
        raise OcppError(
            "PropertyConstraintViolation",
            f"connectorId must be between {lowest} and {MAX_CONNECTOR_ID}",
            {"field": "connectorId"},
        )
    known = charge_point.connectors_by_id
    connector = known.get(connector_id)
    if connector is None:
        connector, _ = Connector.objects.get_or_create(
            charge_point=charge_point, connector_id=connector_id
        )
        connector.charge_point = charge_point
        known[connector_id] = connector
    return connector


# The session a MeterValues names, with its token; compiled once (docs/performance.md).
SESSION = CompiledQuery(
    lambda charge_point, pk: (
        ChargingSession.objects.select_related("id_token")
        .filter(charge_point=charge_point, pk=pk)
        .order_by()
    )
)
# The session a StopTransaction closes, locked, with what the listeners read; compiled once.
LOCKED_SESSION = CompiledQuery(
    lambda charge_point, pk: (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("connector", "id_token")
        .filter(charge_point=charge_point, pk=pk)
        .order_by()
    )
)


def _session(charge_point: ChargePoint, transaction_id: int) -> ChargingSession | None:
    """The charger's session a MeterValues names, with its token (the listeners ask whether
    a driver owns it); an active one from ChargePoint.sessions_by_id after its first call,
    not a query per call (MeterValues are most of a charging charger's calls)."""
    known = charge_point.sessions_by_id
    session = known.get(transaction_id)
    if session is None:
        try:
            session = SESSION.get(charge_point=charge_point, pk=transaction_id)
        except ChargingSession.DoesNotExist:
            return None
        session.charge_point = charge_point  # for the listeners, without a query
        if session.status == ChargingSession.Status.ACTIVE:
            known[transaction_id] = session
    return session


def _time(payload: Payload, key: str, received_at: datetime) -> tuple[datetime, bool]:
    return trusted_time(parse_datetime(payload[key]), received_at)


def _wire_id_tag_info(
    id_tag: str | IdToken | None, now: datetime, charge_point: ChargePoint | None = None
) -> Payload:
    """IdTagInfo as it goes on the wire, for an id tag or a token already looked up."""
    if isinstance(id_tag, str):
        info = id_tag_info(id_tag, now, charge_point)
    else:
        info = token_info(id_tag, now, charge_point)
    if "expiryDate" in info:
        info["expiryDate"] = format_datetime(info["expiryDate"])
    return info


def _announce_refusal(
    charge_point: ChargePoint, connector_id: int, action: str, info: Payload, at: datetime
) -> None:
    """A start refused at the charger (a driver turned away): tell the listeners."""
    if info["status"] != "Accepted":
        signals.announce(
            signals.authorization_refused,
            ChargePoint,
            charge_point=charge_point,
            connector_id=connector_id,
            action=action,
            status=info["status"],
            at=at,
        )


def _storable_number(value: str) -> Decimal | None:
    """The number in a Raw sampled value, if MeterSample.value_decimal can hold it.

    Anything else (no number, NaN, or too large for the column, which would fail the
    whole INSERT) is kept as text only: the value itself is always stored as received.
    """
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    field = MeterSample._meta.get_field("value_decimal")
    # copy_abs(), not abs(): abs() rounds to the context and overflows on "-1e999999999".
    if not number.is_finite() or number.copy_abs() >= Decimal(10) ** (
        field.max_digits - field.decimal_places
    ):
        return None
    return number.quantize(Decimal(1).scaleb(-field.decimal_places))


def _store_meter_values(
    charge_point: ChargePoint,
    connector_id: int,
    session: ChargingSession | None,
    meter_values: list[Payload],
    received_at: datetime,
) -> list[MeterSample]:
    """Store sampled values as received; a retransmitted sample is stored once. The
    samples built (for the listeners: what this call measured)."""
    samples = []
    for meter_value in meter_values:
        timestamp, suspect = _time(meter_value, "timestamp", received_at)
        for sampled in meter_value["sampledValue"]:
            value_format = sampled.get("format", "Raw")
            number = _storable_number(sampled["value"]) if value_format == "Raw" else None
            samples.append(
                MeterSample(
                    charge_point=charge_point,
                    connector_id=connector_id,
                    session=session,
                    timestamp=timestamp,
                    # Defaults from OCPP 1.6 §7.45 SampledValue.
                    measurand=sampled.get("measurand", "Energy.Active.Import.Register"),
                    phase=sampled.get("phase", ""),
                    location=sampled.get("location", ""),
                    context=sampled.get("context", "Sample.Periodic"),
                    format=value_format,
                    unit=sampled.get("unit", "Wh"),
                    value=sampled["value"],
                    value_decimal=number,
                    clock_suspect=suspect,
                    received_at=received_at,
                )
            )
    meter_samples.store(samples)
    return samples


# --- Core profile, charger -> server --------------------------------------------------------


@handles("BootNotification")
def boot_notification(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """§4.2: store what the charger says about itself; answer with its registration."""
    fields = {
        "vendor": payload["chargePointVendor"],
        "model": payload["chargePointModel"],
        "serial_number": payload.get("chargePointSerialNumber", ""),
        "charge_box_serial_number": payload.get("chargeBoxSerialNumber", ""),
        "firmware_version": payload.get("firmwareVersion", ""),
        "iccid": payload.get("iccid", ""),
        "imsi": payload.get("imsi", ""),
        "meter_type": payload.get("meterType", ""),
        "meter_serial_number": payload.get("meterSerialNumber", ""),
        "last_boot_at": received_at,
    }
    # One statement on PostgreSQL (statements.record_boot): the registration read and the
    # write, the heartbeat interval written only for an Accepted charger.
    status, previous_boot_at = statements.record_boot(
        charge_point.pk, fields, settings.OCPP_HEARTBEAT_INTERVAL
    )
    if status == ChargePoint.Registration.ACCEPTED:
        interval = settings.OCPP_HEARTBEAT_INTERVAL
    else:
        interval = settings.OCPP_PENDING_RETRY_INTERVAL
    charge_point.registration_status = status
    if status == ChargePoint.Registration.ACCEPTED:
        signals.announce(
            signals.charge_point_booted,
            ChargePoint,
            charge_point=charge_point,
            previous_boot_at=previous_boot_at,
        )
    return {"status": status, "currentTime": format_datetime(timezone.now()), "interval": interval}


@handles("Heartbeat")
def heartbeat(charge_point: ChargePoint, payload: Payload, received_at: datetime) -> Payload:
    """§4.6: the consumer already noted the charger as seen; answer with server time."""
    return {"currentTime": format_datetime(timezone.now())}


@handles("Authorize")
def authorize(charge_point: ChargePoint, payload: Payload, received_at: datetime) -> Payload:
    """§4.1; a start at this charger: its charge point policies are asked too."""
    info = _wire_id_tag_info(payload["idTag"], received_at, charge_point)
    _announce_refusal(charge_point, 0, "Authorize", info, received_at)
    return {"idTagInfo": info}


@handles("StatusNotification")
def status_notification(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """§4.9: keep every status in the history; the connector shows the newest one.

    Queued notifications can arrive late: one older than the connector's current status
    goes into the history without overwriting the current status.
    """
    connector = _connector(charge_point, payload["connectorId"], allow_zero=True)
    if "timestamp" in payload:
        timestamp, suspect = _time(payload, "timestamp", received_at)
    else:
        timestamp, suspect = received_at, False
    event = StatusEvent(
        connector=connector,
        status=payload["status"],
        error_code=payload["errorCode"],
        info=payload.get("info", ""),
        vendor_id=payload.get("vendorId", ""),
        vendor_error_code=payload.get("vendorErrorCode", ""),
        timestamp=timestamp,
        clock_suspect=suspect,
        received_at=received_at,
    )
    current = {
        "status": event.status,
        "error_code": event.error_code,
        "info": event.info,
        "vendor_id": event.vendor_id,
        "vendor_error_code": event.vendor_error_code,
        "status_at": timestamp,
    }
    # The database decides what is newest, and only these columns are written: the
    # connector may be cached (connectors_by_id) while staff edit its other fields.
    previous = connector.status
    if statements.record_status(event, current):
        for field, value in current.items():
            setattr(connector, field, value)
        if previous != connector.status:
            signals.announce(
                signals.connector_status_changed,
                Connector,
                connector=connector,
                previous_status=previous,
            )
    signals.announce(
        signals.status_notification_received,
        Connector,
        connector=connector,
        event=event,
        previous_status=previous,
    )
    return {}


@handles("StartTransaction")
def start_transaction(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """§4.8: open a session and hand out its transactionId (the session's pk).

    A retransmitted StartTransaction.req (typically resent after a reconnect because
    the answer was lost) gets the same transactionId and creates nothing
    (sessions.open_session).
    """
    connector = _connector(charge_point, payload["connectorId"], allow_zero=False)
    id_tag = normalize_id_tag(payload["idTag"])
    started_at, suspect = _time(payload, "timestamp", received_at)
    charge_point.sessions_by_id.clear()  # one it supersedes is closed now: read again
    session, created = sessions.open_session(
        connector,
        id_tag,
        started_at,
        payload["meterStart"],
        reservation_id=payload.get("reservationId"),
        clock_suspect=suspect,
    )
    # Not Accepted (a site stopped in an emergency): the charger ends the transaction
    # it started while it could not hear us (§4.8, StopTransactionOnInvalidId).
    # A session opened now holds the token it looked up a moment ago (None: unknown).
    info = _wire_id_tag_info(session.id_token if created else id_tag, received_at, charge_point)
    if created:
        # Kept for its MeterValues, as _session() would read it (with its token).
        charge_point.sessions_by_id[session.pk] = session
        _announce_refusal(
            charge_point, connector.connector_id, "StartTransaction", info, started_at
        )
    return {"transactionId": session.pk, "idTagInfo": info}


@handles("StopTransaction")
def stop_transaction(charge_point: ChargePoint, payload: Payload, received_at: datetime) -> Payload:
    """§4.10: close the session with the charger's final reading.

    Its transactionData is stored first: the energy counts every reading
    (sessions.close_session). An unknown transactionId is answered (the charger would
    otherwise resend it forever) and logged.
    """
    charge_point.sessions_by_id.pop(payload["transactionId"], None)  # read afresh, locked
    try:
        session = LOCKED_SESSION.get(charge_point=charge_point, pk=payload["transactionId"])
    except ChargingSession.DoesNotExist:
        session = None
    response: Payload = {}
    if "idTag" in payload:
        response["idTagInfo"] = _wire_id_tag_info(
            _stop_token(payload["idTag"], session), received_at
        )
    if session is None:
        logger.warning(
            "%s: StopTransaction for unknown transaction %s",
            charge_point.charge_point_id,
            payload["transactionId"],
        )
        return response
    session.charge_point = charge_point  # for the listeners, without a query

    if "transactionData" in payload:
        _store_meter_values(
            charge_point,
            session.connector.connector_id,
            session,
            payload["transactionData"],
            received_at,
        )
    stopped_at, suspect = _time(payload, "timestamp", received_at)
    sessions.close_session(
        session,
        stopped_at,
        payload["meterStop"],
        payload.get("reason", "Local"),  # §7.40: absent means Local
        stop_id_tag=normalize_id_tag(payload.get("idTag", "")),
        clock_suspect=suspect,
    )
    return response


def _stop_token(id_tag: str, session: ChargingSession | None) -> str | IdToken | None:
    """The token a StopTransaction's idTag names: the session's own, read with it, when
    the tag is its token's uid (unique: the same row), else the tag to look up. Most
    stops are by the driver who started, so most save the token's read."""
    token = session.id_token if session is not None else None
    if token is not None and token.uid == normalize_id_tag(id_tag):
        return token
    return id_tag


@handles("MeterValues")
def meter_values(charge_point: ChargePoint, payload: Payload, received_at: datetime) -> Payload:
    """§4.7: store every sampled value (all measurands, phases, contexts, units)."""
    connector = _connector(charge_point, payload["connectorId"], allow_zero=True)
    session = None
    if "transactionId" in payload:
        session = _session(charge_point, payload["transactionId"])
        if session is None:
            logger.warning(
                "%s: MeterValues for unknown transaction %s",
                charge_point.charge_point_id,
                payload["transactionId"],
            )
        else:
            # Its connector as this call knows it (the charger's kept rows, updated by its
            # StatusNotifications), not one read with a session kept since an earlier call.
            connectors = charge_point.connectors_by_id.values()
            kept = next((c for c in connectors if c.pk == session.connector_id), None)
            if kept is not None:
                session.connector = kept
    samples = _store_meter_values(
        charge_point, connector.connector_id, session, payload["meterValue"], received_at
    )
    if session is not None:
        sessions.meter_values_stored(session, samples)
    return {}


@handles("DataTransfer")
def data_transfer(charge_point: ChargePoint, payload: Payload, received_at: datetime) -> Payload:
    """§4.3: vendor-specific data. It is kept in the message log; no vendor extension
    is known yet, so the answer is UnknownVendorId (the charger then knows it was not
    acted upon)."""
    return {"status": "UnknownVendorId"}


def _store_diagnostics_status(
    charge_point: ChargePoint, kind: str, payload: Payload, received_at: datetime
) -> Payload:
    event = DiagnosticsStatusEvent.objects.create(
        charge_point=charge_point,
        kind=kind,
        status=payload["status"],
        request_id=payload.get("requestId"),
        received_at=received_at,
    )
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        diagnostics_status=event.status, diagnostics_status_at=received_at
    )
    signals.announce(signals.diagnostics_status_received, DiagnosticsStatusEvent, event=event)
    return {}


def _store_firmware_status(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    event = FirmwareStatusEvent.objects.create(
        charge_point=charge_point,
        status=payload["status"],
        request_id=payload.get("requestId"),
        received_at=received_at,
    )
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        firmware_status=event.status, firmware_status_at=received_at
    )
    signals.announce(signals.firmware_status_received, FirmwareStatusEvent, event=event)
    return {}


@handles("DiagnosticsStatusNotification")
def diagnostics_status_notification(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """§4.4: kept in the history; the charger shows the latest."""
    return _store_diagnostics_status(
        charge_point, DiagnosticsStatusEvent.Kind.DIAGNOSTICS, payload, received_at
    )


@handles("FirmwareStatusNotification")
def firmware_status_notification(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """§4.5: kept in the history (a campaign follows it); the charger shows the latest."""
    return _store_firmware_status(charge_point, payload, received_at)


# --- Security extension (OCPP 1.6 security whitepaper, edition 3), charger -> server ------


@handles("SecurityEventNotification")
def security_event_notification(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """Whitepaper §2.5 / use case N02: store every security event; listeners decide which
    need a person (tamper, memory, certificates)."""
    timestamp, suspect = _time(payload, "timestamp", received_at)
    event = SecurityEvent.objects.create(
        charge_point=charge_point,
        type=payload["type"],
        tech_info=payload.get("techInfo", ""),
        timestamp=timestamp,
        clock_suspect=suspect,
        received_at=received_at,
    )
    signals.announce(signals.security_event_received, SecurityEvent, event=event)
    return {}


@handles("LogStatusNotification")
def log_status_notification(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """Whitepaper §4.2 / use case N01: how a GetLog upload goes, kept in the history."""
    return _store_diagnostics_status(
        charge_point, DiagnosticsStatusEvent.Kind.LOG, payload, received_at
    )


@handles("SignedFirmwareStatusNotification")
def signed_firmware_status_notification(
    charge_point: ChargePoint, payload: Payload, received_at: datetime
) -> Payload:
    """Whitepaper §4.3 / use case L01: a signed update's progress, kept in the history."""
    return _store_firmware_status(charge_point, payload, received_at)


@handles("SignCertificate")
def sign_certificate(charge_point: ChargePoint, payload: Payload, received_at: datetime) -> Payload:
    """Security whitepaper: a CSR for the charger's own certificate. Checked
    now (its CN must be this charger's id), signed after the answer by a task, which sends
    it back with CertificateSigned (stations/operations.py)."""
    try:
        certificates.check_csr(payload["csr"], charge_point.charge_point_id)
    except certificates.CertificateError as error:
        logger.warning("%s: CSR rejected: %s", charge_point.charge_point_id, error)
        return {"status": "Rejected"}
    signals.announce(
        signals.certificate_signing_requested,
        ChargePoint,
        charge_point=charge_point,
        csr=payload["csr"],
    )
    return {"status": "Accepted"}
