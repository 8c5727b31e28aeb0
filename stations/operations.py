"""What staff do to chargers: the rules around the commands, in one place.

Admin actions, the CLI and the API call these functions; they send through
`stations.ocpp.commands` and keep the database in step with what the charger answered
(its configuration, its reservations). They are sync, like the Django views that call
them; async code wraps them in `sync_to_async`. Errors are `commands.CommandError`s;
`command_failure()` says what each one means to whoever asked, the same on every page.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from ocpp.v16 import call, call_result

from stations import certificates, charger_auth
from stations.charger_auth import MIN_PASSWORD_LENGTH, generate_password
from stations.models import (
    ChargePoint,
    ChargerCertificate,
    ChargingSession,
    InstalledCertificate,
    Reservation,
    Site,
)
from stations.ocpp import commands, rpc
from stations.ocpp.connections import CHARGE_POINT_ID_PATTERN

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandFailure:
    """A command that got no answer to act on, as people and HTTP clients are told."""

    status: int
    message: str


def command_failure(error: commands.CommandError) -> CommandFailure:
    """The one table of command errors, for the admin's messages, the portal's and the
    guest's pages and the API: the charger, or the way to it, failed, so the server
    answers as the gateway it is (RFC 9110 §15.6.3, §15.6.5)."""
    if isinstance(error, commands.ChargerOffline):
        return CommandFailure(HTTPStatus.BAD_GATEWAY, _("The charger is offline right now."))
    if isinstance(error, commands.CommandTimeout):
        return CommandFailure(HTTPStatus.GATEWAY_TIMEOUT, _("The charger did not answer in time."))
    if isinstance(error, commands.CallErrorReceived):
        answer = f"{error.error_code} {error.description}".strip()
        return CommandFailure(
            HTTPStatus.BAD_GATEWAY,
            _("The charger answered with an error: %(error)s.") % {"error": answer},
        )
    if isinstance(error, commands.InvalidAnswer):
        return CommandFailure(HTTPStatus.BAD_GATEWAY, _("The charger's answer could not be read."))
    if isinstance(error, commands.ChannelLayerUnavailable):
        # The way to the chargers (Redis) is down for a moment: a retry soon gets through.
        return CommandFailure(
            HTTPStatus.SERVICE_UNAVAILABLE,
            _("The way to the chargers is down for a moment; please try again shortly."),
        )
    if isinstance(error, commands.UnknownChargePoint):
        return CommandFailure(HTTPStatus.NOT_FOUND, _("There is no such charger."))
    if isinstance(error, commands.InvalidCommand):
        # What was asked cannot be sent at all; the reason is for staff, in English.
        return CommandFailure(
            HTTPStatus.BAD_REQUEST,
            _("This cannot be asked of the charger: %(reason)s") % {"reason": error},
        )
    return CommandFailure(HTTPStatus.BAD_GATEWAY, _("The charger could not carry out the request."))


def _send(charge_point_id: str, request: Any, issued_by: Any, source: str) -> Any:
    return commands.send_sync(charge_point_id, request, issued_by=issued_by, source=source)


def approve(charge_points: QuerySet[ChargePoint]) -> tuple[int, list[str]]:
    """Accept chargers waiting for approval; their next BootNotification is Accepted.

    Only Pending ones: a Rejected charger was refused on purpose (OCPP 1.6 §4.2.1). One
    that came without credentials has no password and stays Pending until staff set one
    (ChargePoint.clean). Returns how many were accepted and the ids left without a password.
    Saved one by one, not by a bulk UPDATE: the audit hears each save (audit/receivers.py).
    """
    pending = charge_points.filter(registration_status=ChargePoint.Registration.PENDING)
    approved, without_password = 0, []
    for charge_point in pending:
        if not charge_point.can_authenticate:
            without_password.append(charge_point.charge_point_id)
            continue
        charge_point.registration_status = ChargePoint.Registration.ACCEPTED
        charge_point.save(update_fields=["registration_status"])
        approved += 1
    return approved, without_password


def reset(
    charge_point_id: str, kind: str, *, issued_by: Any = None, source: str = ""
) -> call_result.Reset:
    """Soft (restart software) or Hard (reboot) reset, OCPP 1.6 §5.14."""
    return _send(charge_point_id, call.Reset(type=kind), issued_by, source)


def unlock_connector(
    charge_point_id: str, connector_id: int, *, issued_by: Any = None, source: str = ""
) -> call_result.UnlockConnector:
    return _send(
        charge_point_id, call.UnlockConnector(connector_id=connector_id), issued_by, source
    )


def change_availability(
    charge_point_id: str,
    connector_id: int,
    kind: str,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.ChangeAvailability:
    """Operative or Inoperative; connector 0 is the whole charger (OCPP 1.6 §5.2)."""
    return _send(
        charge_point_id,
        call.ChangeAvailability(connector_id=connector_id, type=kind),
        issued_by,
        source,
    )


def remote_start(
    charge_point_id: str,
    id_tag: str,
    connector_id: int | None = None,
    charging_profile: dict[str, Any] | None = None,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.RemoteStartTransaction:
    """Ask the charger to start a session for `id_tag` (OCPP 1.6 §5.11).

    `charging_profile` is a ChargingProfile in snake_case or camelCase keys.
    """
    if charging_profile is not None:
        purpose = charging_profile.get(
            "charging_profile_purpose", charging_profile.get("chargingProfilePurpose")
        )
        # OCPP 1.6 §5.11: a profile sent with RemoteStartTransaction SHALL be a TxProfile.
        if purpose != "TxProfile":
            raise commands.InvalidCommand(
                "The charging profile of a remote start must have purpose TxProfile"
            )
    request = call.RemoteStartTransaction(
        id_tag=id_tag, connector_id=connector_id, charging_profile=charging_profile
    )
    return _send(charge_point_id, request, issued_by, source)


def remote_stop(
    session: ChargingSession, *, issued_by: Any = None, source: str = ""
) -> call_result.RemoteStopTransaction:
    """Ask the charger to stop a session. The session closes when its StopTransaction comes."""
    if session.status != ChargingSession.Status.ACTIVE:
        raise commands.InvalidCommand(f"Session #{session.pk} is not active")
    return _send(
        session.charge_point.charge_point_id,
        call.RemoteStopTransaction(transaction_id=session.pk),
        issued_by,
        source,
    )


def refresh_configuration(
    charge_point_id: str,
    keys: list[str] | None = None,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.GetConfiguration:
    """Read the charger's configuration (all keys, or `keys`) into ChargePoint.configuration.

    All keys replace what was stored; some keys update those and drop the ones the
    charger says it does not know (OCPP 1.6 §5.8 unknownKey).
    """
    answer = _send(charge_point_id, call.GetConfiguration(key=keys or None), issued_by, source)
    read = {
        item["key"]: {
            # A charger that reads its AuthorizationKey back (the whitepaper makes it
            # write-only) gets it kept hidden, not in clear.
            "value": charger_auth.HIDDEN
            if charger_auth.is_authorization_key(item["key"]) and item.get("value")
            else item.get("value"),
            "readonly": item["readonly"],
        }
        for item in answer.configuration_key or []
    }
    charge_point = ChargePoint.objects.get(charge_point_id=charge_point_id)
    if keys:
        configuration = {**charge_point.configuration, **read}
        for unknown in answer.unknown_key or []:
            configuration.pop(unknown, None)
    else:
        configuration = read
    charge_point.configuration = configuration
    charge_point.save(update_fields=["configuration"])
    return answer


def change_configuration(
    charge_point_id: str, key: str, value: str, *, issued_by: Any = None, source: str = ""
) -> call_result.ChangeConfiguration:
    """Set one key; the stored configuration follows when the charger took the value.

    AuthorizationKey is the charger's password (security whitepaper ed. 3, use case A01):
    commands.send_payload makes it the stored password once the charger takes it; its
    value is never kept in the configuration.
    """
    answer = _send(
        charge_point_id, call.ChangeConfiguration(key=key, value=value), issued_by, source
    )
    # OCPP 1.6 §5.3: RebootRequired means the value is stored and applies after a reboot.
    if answer.status in ("Accepted", "RebootRequired"):
        if charger_auth.is_authorization_key(key):
            return answer
        charge_point = ChargePoint.objects.get(charge_point_id=charge_point_id)
        previous = charge_point.configuration.get(key, {})
        charge_point.configuration = {
            **charge_point.configuration,
            key: {**previous, "value": value, "readonly": False},
        }
        charge_point.save(update_fields=["configuration"])
    return answer


def trigger_message(
    charge_point_id: str,
    requested_message: str,
    connector_id: int | None = None,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.TriggerMessage:
    """Ask the charger to send a message now (OCPP 1.6 §5.17), e.g. StatusNotification."""
    request = call.TriggerMessage(requested_message=requested_message, connector_id=connector_id)
    return _send(charge_point_id, request, issued_by, source)


def get_composite_schedule(
    charge_point_id: str,
    connector_id: int,
    duration: int,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.GetCompositeSchedule:
    """What the charger will draw on a connector for the next `duration` seconds, all its
    profiles combined (OCPP 1.6 §5.7), in amps; the answer is kept on the command."""
    request = call.GetCompositeSchedule(
        connector_id=connector_id, duration=duration, charging_rate_unit="A"
    )
    return _send(charge_point_id, request, issued_by, source)


def _wire_time(value: datetime) -> str:
    try:
        return rpc.format_datetime(value)
    except ValueError:
        raise commands.InvalidCommand("A time sent to a charger must be timezone-aware") from None


def update_firmware(
    charge_point_id: str,
    location: str,
    retrieve_at: datetime,
    retries: int | None = None,
    retry_interval: int | None = None,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.UpdateFirmware:
    """Tell the charger where to fetch new firmware and from when (OCPP 1.6 §5.19)."""
    request = call.UpdateFirmware(
        location=location,
        retrieve_date=_wire_time(retrieve_at),
        retries=retries,
        retry_interval=retry_interval,
    )
    return _send(charge_point_id, request, issued_by, source)


def signed_update_firmware(
    charge_point_id: str,
    request_id: int,
    location: str,
    retrieve_at: datetime,
    signing_certificate: str,
    signature: str,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.SignedUpdateFirmware:
    """Firmware with its signature and the certificate that signed it (security
    whitepaper ed. 3 §4.4, use case L01); the charger checks both before installing."""
    request = call.SignedUpdateFirmware(
        request_id=request_id,
        firmware={
            "location": location,
            "retrieveDateTime": _wire_time(retrieve_at),
            "signingCertificate": signing_certificate,
            "signature": signature,
        },
    )
    return _send(charge_point_id, request, issued_by, source)


def get_diagnostics(
    charge_point_id: str, location: str, *, issued_by: Any = None, source: str = ""
) -> call_result.GetDiagnostics:
    """Ask the charger to upload its diagnostics to `location` (OCPP 1.6 §5.9)."""
    return _send(charge_point_id, call.GetDiagnostics(location=location), issued_by, source)


def get_log(
    charge_point_id: str,
    log_type: str,
    request_id: int,
    location: str,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.GetLog:
    """Ask the charger to upload its DiagnosticsLog or SecurityLog to `location`
    (security whitepaper ed. 3 §4.2, use case N01)."""
    request = call.GetLog(
        log_type=log_type, request_id=request_id, log={"remoteLocation": location}
    )
    return _send(charge_point_id, request, issued_by, source)


def reserve_now(
    charge_point_id: str,
    connector_id: int,
    id_tag: str,
    expires_at: datetime,
    issued_by: Any = None,
    *,
    reservation_id: int | None = None,
    source: str = "",
) -> Reservation:
    """Reserve a connector for an id tag (OCPP 1.6 §5.13); returns the Reservation.

    The Reservation's pk is the reservationId. Passing `reservation_id` of an existing
    reservation replaces it on the charger, as §5.13 prescribes. The reservation's status
    follows the answer; when the outcome is unknown (timeout) it stays Requested.
    """
    if expires_at <= timezone.now():
        raise commands.InvalidCommand("A reservation must expire in the future")
    expiry_date = _wire_time(expires_at)
    charge_point = ChargePoint.objects.filter(charge_point_id=charge_point_id).first()
    if charge_point is None:
        raise commands.UnknownChargePoint(f"No charge point {charge_point_id!r}")
    if reservation_id is None:
        reservation = Reservation(charge_point=charge_point)
    else:
        reservation = Reservation.objects.get(pk=reservation_id, charge_point=charge_point)
    reservation.connector_id = connector_id
    reservation.id_tag = id_tag
    reservation.expires_at = expires_at
    reservation.status = Reservation.Status.REQUESTED
    reservation.save()

    request = call.ReserveNow(
        connector_id=connector_id,
        expiry_date=expiry_date,
        id_tag=id_tag,
        reservation_id=reservation.pk,
    )
    try:
        answer = _send(charge_point_id, request, issued_by, source)
    except (commands.ChargerOffline, commands.InvalidCommand, commands.CallErrorReceived):
        # The charger certainly holds no such reservation.
        reservation.status = Reservation.Status.REJECTED
        reservation.save(update_fields=["status"])
        raise
    # Faulted, Occupied, Rejected and Unavailable all mean: not reserved.
    accepted = answer.status == "Accepted"
    reservation.status = Reservation.Status.ACCEPTED if accepted else Reservation.Status.REJECTED
    reservation.save(update_fields=["status"])
    return reservation


def cancel_reservation(
    reservation: Reservation, *, issued_by: Any = None, source: str = ""
) -> call_result.CancelReservation:
    """Cancel a reservation on its charger (OCPP 1.6 §5.1); Accepted marks it Cancelled."""
    answer = _send(
        reservation.charge_point.charge_point_id,
        call.CancelReservation(reservation_id=reservation.pk),
        issued_by,
        source,
    )
    if answer.status == "Accepted":
        reservation.status = Reservation.Status.CANCELLED
        reservation.save(update_fields=["status"])
    return answer


class UnknownSite(ValueError):
    """No site has the name given; creating one needs to be asked for (a typo would
    otherwise make an empty site)."""


def register_charge_point(
    charge_point_id: str,
    password: str | None = None,
    site_name: str | None = None,
    *,
    create_site: bool = False,
) -> tuple[ChargePoint, str | None]:
    """Create or update an Accepted charge point; returns it and the password, if generated.

    A new charger, or one without a password, gets a generated password when none is
    given. An existing charger keeps its password unless a new one is given: rotating it
    silently would lock the charger out. A site is looked up by its exact name and made
    only with `create_site`.
    """
    if not CHARGE_POINT_ID_PATTERN.match(charge_point_id):
        raise ValueError(
            _("A charge point id is 1 to 48 letters, digits or . _ : - (got %(id)r).")
            % {"id": charge_point_id}
        )
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            _("A charger password needs at least %(min)d characters.")
            % {"min": MIN_PASSWORD_LENGTH}
        )
    with transaction.atomic():
        charge_point = (
            ChargePoint.objects.select_for_update().filter(charge_point_id=charge_point_id).first()
        ) or ChargePoint(charge_point_id=charge_point_id)
        generated = None
        if password is None and not charge_point.password_hash:
            password = generated = generate_password()
        if password is not None:
            charge_point.set_password(password)
        if site_name:
            site = Site.objects.filter(name=site_name).first()
            if site is None and not create_site:
                raise UnknownSite(_("There is no site named %(name)r.") % {"name": site_name})
            charge_point.site = site or Site.objects.create(name=site_name)
        charge_point.registration_status = ChargePoint.Registration.ACCEPTED
        charge_point.save()
    return charge_point, generated


def connection_url(charge_point_id: str, host: str, secure: bool) -> str:
    """The URL a charger is configured with: the central system's URL and its identity
    appended (OCPP-J 1.6 §3.1.1)."""
    return f"{'wss' if secure else 'ws'}://{host}/ocpp/{charge_point_id}"


# --- Certificates (OCPP 1.6 security whitepaper, edition 3) ---------------------------

# Recorded with the commands the certificate rules send (ChargerCommand.source).
CERTIFICATE_SOURCE = "certificates"


def sign_certificate(charge_point_id: str, csr: str) -> ChargerCertificate | None:
    """Sign the charger's CSR and send it the certificate (CertificateSigned, security
    whitepaper); None when the signer refused it. An answer Accepted marks it installed."""
    charge_point = ChargePoint.objects.get(charge_point_id=charge_point_id)
    try:
        certificate = certificates.issue(charge_point, csr)
    except certificates.CertificateError:
        logger.exception("%s: the CSR was not signed", charge_point_id)
        return None
    answer = _send(
        charge_point_id,
        call.CertificateSigned(certificate_chain=certificate.pem),
        None,
        CERTIFICATE_SOURCE,
    )
    if answer.status == "Accepted":
        certificate.installed_at = timezone.now()
        certificate.save(update_fields=["installed_at"])
    return certificate


def request_certificate_renewals(due: QuerySet[ChargerCertificate]) -> int:
    """Ask each charger of `due` for a new CSR (ExtendedTriggerMessage
    SignChargePointCertificate, security whitepaper); asked once per certificate."""
    asked = 0
    for certificate in due.select_related("charge_point"):
        charge_point_id = certificate.charge_point.charge_point_id
        try:
            answer = request_new_certificate(charge_point_id, source=CERTIFICATE_SOURCE)
        except commands.CommandError as error:
            logger.warning("%s: renewal not asked for: %s", charge_point_id, error)
            continue
        if answer.status == "Accepted":
            ChargerCertificate.objects.filter(pk=certificate.pk).update(
                renewal_requested_at=timezone.now()
            )
            asked += 1
    return asked


def request_new_certificate(
    charge_point_id: str, *, issued_by: Any = None, source: str = ""
) -> call_result.ExtendedTriggerMessage:
    """Ask the charger to send a new CSR now (ExtendedTriggerMessage)."""
    request = call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")
    return _send(charge_point_id, request, issued_by, source)


def install_root_certificate(
    charge_point_id: str,
    certificate_type: str,
    pem: str,
    *,
    issued_by: Any = None,
    source: str = "",
) -> call_result.InstallCertificate:
    """Install a root certificate on the charger (InstallCertificate)."""
    request = call.InstallCertificate(certificate_type=certificate_type, certificate=pem)
    return _send(charge_point_id, request, issued_by, source)


def refresh_installed_certificates(
    charge_point_id: str, *, issued_by: Any = None, source: str = ""
) -> list[InstalledCertificate]:
    """Ask the charger which roots it holds (GetInstalledCertificateIds),
    of both types, and keep the answer."""
    charge_point = ChargePoint.objects.get(charge_point_id=charge_point_id)
    for certificate_type in InstalledCertificate.Type.values:
        request = call.GetInstalledCertificateIds(certificate_type=certificate_type)
        answer = _send(charge_point_id, request, issued_by, source)
        installed = answer.certificate_hash_data if answer.status == "Accepted" else []
        certificates.record_installed(charge_point, certificate_type, installed or [])
    return list(charge_point.installed_certificates.all())


def delete_installed_certificate(
    installed: InstalledCertificate, *, issued_by: Any = None, source: str = ""
) -> call_result.DeleteCertificate:
    """Remove a root from the charger (DeleteCertificate); the row goes
    when the charger answers Accepted or NotFound (it does not hold it either way)."""
    request = call.DeleteCertificate(certificate_hash_data=installed.hash_data())
    answer = _send(installed.charge_point.charge_point_id, request, issued_by, source)
    if answer.status in ("Accepted", "NotFound"):
        installed.delete()
    return answer
