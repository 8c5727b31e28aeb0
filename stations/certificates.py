"""Charging-station certificates (OCPP 1.6 security whitepaper, edition 3).

ChargeHub's charging-station CA (two PEM files named by OCPP_CA_CERTIFICATE and
OCPP_CA_KEY; `manage.py charger_ca create` makes them) signs each charger's CSR
(SignCertificate) or hands it to the external CA named by OCPP_CERTIFICATE_SIGNER. The
rule of security profile 3 lives here too: a client certificate lets a charger in only
when it chains to that CA, is valid now, is not revoked, and its subject CN is the
charge point id in the URL (a valid certificate of another charger is refused).
"""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from stations.models import ChargePoint, ChargerCertificate, InstalledCertificate

logger = logging.getLogger(__name__)


class CertificateError(Exception):
    """A CSR or certificate that cannot be used; the message says why (for staff, logs)."""


class Signer(Protocol):
    def __call__(self, csr_pem: str, charge_point_id: str) -> str:
        """The signed certificate (PEM, the charger's first, then any sub-CAs)."""
        ...


# --- The CA -------------------------------------------------------------------------------


def load_ca() -> tuple[x509.Certificate, Any]:
    """ChargeHub's charging-station CA: its certificate and private key."""
    certificate_path, key_path = settings.OCPP_CA_CERTIFICATE, settings.OCPP_CA_KEY
    if not certificate_path or not key_path:
        raise CertificateError("No charging-station CA: set OCPP_CA_CERTIFICATE and OCPP_CA_KEY")
    try:
        certificate = x509.load_pem_x509_certificate(Path(certificate_path).read_bytes())
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise CertificateError(f"The charging-station CA cannot be read: {error}") from None
    return certificate, key


def ca_certificate() -> x509.Certificate | None:
    """The CA's certificate, for checks and admin (the key is not needed for either)."""
    if not settings.OCPP_CA_CERTIFICATE:
        return None
    try:
        return x509.load_pem_x509_certificate(Path(settings.OCPP_CA_CERTIFICATE).read_bytes())
    except (OSError, ValueError):
        logger.exception("The charging-station CA certificate cannot be read")
        return None


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 fingerprint as staff compare it with a charger's display: AB:CD:..."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def is_certificate(pem: str) -> bool:
    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
    return True


def create_ca(common_name: str, days: int) -> tuple[bytes, bytes]:
    """A new self-signed CA (ECDSA P-256, as the whitepaper recommends): (cert, key) PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


# --- Signing a charger's CSR -----------------------------------------------------------


def _common_name(name: x509.Name) -> str:
    names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def check_csr(csr_pem: str, charge_point_id: str) -> x509.CertificateSigningRequest:
    """The CSR, if it may be signed for this charger: well formed, signed by its own key,
    and its CN is the charger's id (a charger may not ask for another's identity)."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("utf-8"))
    except ValueError:
        raise CertificateError("The CSR is not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise CertificateError("The CSR's signature is not valid")
    if _common_name(csr.subject) != charge_point_id:
        raise CertificateError("The CSR's common name (CN) is not the charge point id")
    return csr


def new_key_and_csr(charge_point_id: str) -> tuple[bytes, str]:
    """A key pair and CSR for a charger that cannot make its own (`charger_ca issue`):
    (private key PEM, CSR PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, charge_point_id)]))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def sign_with_ca(csr_pem: str, charge_point_id: str) -> str:
    """The default OCPP_CERTIFICATE_SIGNER: ChargeHub's CA signs the CSR for
    OCPP_CERTIFICATE_DAYS, as a TLS client certificate (profile 3)."""
    csr = check_csr(csr_pem, charge_point_id)
    ca, ca_key = load_ca()
    now = datetime.now(UTC)
    # Never beyond the CA's own expiry: a chain is only as valid as its root.
    until = min(now + timedelta(days=settings.OCPP_CERTIFICATE_DAYS), ca.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def issue(charge_point: ChargePoint, csr_pem: str) -> ChargerCertificate:
    """Have the CSR signed (OCPP_CERTIFICATE_SIGNER) and store the charger's certificate."""
    check_csr(csr_pem, charge_point.charge_point_id)
    signer: Signer = import_string(settings.OCPP_CERTIFICATE_SIGNER)
    chain = signer(csr_pem, charge_point.charge_point_id)
    try:
        certificate = x509.load_pem_x509_certificates(chain.encode("ascii"))[0]
    except (ValueError, IndexError):
        raise CertificateError("The signer did not return a PEM certificate") from None
    if _common_name(certificate.subject) != charge_point.charge_point_id:
        raise CertificateError("The signed certificate's CN is not the charge point id")
    return ChargerCertificate.objects.create(
        charge_point=charge_point,
        serial_number=format(certificate.serial_number, "x"),
        subject=certificate.subject.rfc4514_string()[:255],
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        pem=chain,
    )


# --- Security profile 3 -----------------------------------------------------------------


def client_certificate_refusal(charge_point_id: str, pem: str) -> str | None:
    """Why a client certificate may not connect as `charge_point_id`, or None if it may.

    The TLS layer (daphne's endpoint, or nginx) checks the chain already; it is checked
    again here so that a proxy set up too loosely cannot let another CA's certificate
    in, and because only here are the CN rule and revocation known.
    """
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return "client certificate is not a PEM certificate"
    ca = ca_certificate()
    if ca is None:
        return "no charging-station CA configured"
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "client certificate is not issued by the charging-station CA"
    now = timezone.now()
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        return "client certificate is expired or not yet valid"
    if _common_name(certificate.subject) != charge_point_id:
        return "client certificate is for another charge point"
    serial = format(certificate.serial_number, "x")
    if ChargerCertificate.objects.filter(serial_number=serial, revoked_at__isnull=False).exists():
        return "client certificate is revoked"
    return None


# --- Expiry, renewal, revocation --------------------------------------------------------


def expiring(now: datetime | None = None) -> QuerySet[ChargerCertificate]:
    """Certificates in use that expire within OCPP_CERTIFICATE_RENEW_DAYS: each one the
    newest of its charger, not revoked (an older one replaced by a renewal is not due)."""
    now = now or timezone.now()
    newer = ChargerCertificate.objects.filter(
        charge_point=OuterRef("charge_point"),
        revoked_at__isnull=True,
        not_after__gt=OuterRef("not_after"),
    )
    return ChargerCertificate.objects.filter(
        revoked_at__isnull=True,
        not_after__lte=now + timedelta(days=settings.OCPP_CERTIFICATE_RENEW_DAYS),
    ).exclude(Exists(newer))


def due_for_renewal(now: datetime | None = None) -> QuerySet[ChargerCertificate]:
    """Expiring certificates of connected chargers not asked for a new CSR yet."""
    return expiring(now).filter(renewal_requested_at__isnull=True, charge_point__is_connected=True)


def revoke(certificates: QuerySet[ChargerCertificate]) -> int:
    """Revoke: a profile 3 connection with one of these is refused from now on. Saved one
    by one, not by a bulk UPDATE: the audit hears each save (audit/receivers.py)."""
    now, revoked = timezone.now(), 0
    for certificate in certificates.filter(revoked_at__isnull=True):
        certificate.revoked_at = now
        certificate.save(update_fields=["revoked_at"])
        revoked += 1
    return revoked


def record_installed(
    charge_point: ChargePoint, certificate_type: str, hash_data: list[dict[str, str]]
) -> None:
    """Keep what GetInstalledCertificateIds answered (its CertificateHashData, snake_case
    as the `ocpp` package gives it): the charger's roots of that type."""
    InstalledCertificate.objects.filter(
        charge_point=charge_point, certificate_type=certificate_type
    ).delete()
    InstalledCertificate.objects.bulk_create(
        InstalledCertificate(
            charge_point=charge_point,
            certificate_type=certificate_type,
            hash_algorithm=data["hash_algorithm"],
            issuer_name_hash=data["issuer_name_hash"],
            issuer_key_hash=data["issuer_key_hash"],
            serial_number=data["serial_number"],
        )
        for data in hash_data
    )
