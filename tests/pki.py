"""Certificates made by the tests with `cryptography`: ChargeHub's charging-station CA
(through stations.certificates, as `charger_ca create` makes it), a server certificate
for 127.0.0.1 from a CSMS root the chargers trust (or for any name: server_certificate),
and chargers' client certificates (good, of another charger, expired, self-signed)."""

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stations import certificates


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Pki:
    folder: Path
    ca_certificate: Path  # ChargeHub's charging-station CA (OCPP_CA_CERTIFICATE)
    ca_key: Path
    server_root: Path  # what chargers trust for the server (CentralSystemRootCertificate)
    server_certificate: Path
    server_key: Path

    def env(self) -> dict[str, str]:
        """A server's settings for TLS and the CA."""
        return {
            "OCPP_TLS_CERTIFICATE": str(self.server_certificate),
            "OCPP_TLS_KEY": str(self.server_key),
            "OCPP_CA_CERTIFICATE": str(self.ca_certificate),
            "OCPP_CA_KEY": str(self.ca_key),
        }

    def client(
        self,
        common_name: str,
        *,
        days: int = 30,
        starts: timedelta = timedelta(minutes=-5),
        self_signed: bool = False,
    ) -> tuple[Path, Path]:
        """A charger's client certificate and key files, issued by the CA unless
        self-signed; `starts` and `days` set its validity (negative: in the past)."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        if self_signed:
            issuer, issuer_key = name, key
        else:
            ca = x509.load_pem_x509_certificate(self.ca_certificate.read_bytes())
            issuer = ca.subject
            issuer_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        begin = datetime.now(UTC) + starts
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(begin)
            .not_valid_after(begin + timedelta(days=days))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(issuer_key, hashes.SHA256())
        )
        stem = f"{common_name}-{certificate.serial_number:x}"
        certificate_path = self.folder / f"{stem}.pem"
        key_path = self.folder / f"{stem}.key"
        certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_pem(key))
        return certificate_path, key_path


def server_certificate(
    root_pem: bytes, root_key_pem: bytes, name: x509.DNSName | x509.IPAddress
) -> tuple[bytes, bytes]:
    """A TLS server's certificate for `name` issued by the root (create_ca's PEM pair):
    (certificate, key) PEM."""
    root = x509.load_pem_x509_certificate(root_pem)
    root_key = serialization.load_pem_private_key(root_key_pem, password=None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(name.value))]))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([name]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(root_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _pem(key)


def make_pki(folder: Path) -> Pki:
    ca_pem, ca_key_pem = certificates.create_ca("Test charging-station CA", 30)
    (folder / "ca.pem").write_bytes(ca_pem)
    (folder / "ca.key").write_bytes(ca_key_pem)

    root_pem, root_key_pem = certificates.create_ca("Test CSMS root", 30)
    server_pem, server_key_pem = server_certificate(
        root_pem, root_key_pem, x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    )
    (folder / "root.pem").write_bytes(root_pem)
    (folder / "server.pem").write_bytes(server_pem)
    (folder / "server.key").write_bytes(server_key_pem)
    return Pki(
        folder=folder,
        ca_certificate=folder / "ca.pem",
        ca_key=folder / "ca.key",
        server_root=folder / "root.pem",
        server_certificate=folder / "server.pem",
        server_key=folder / "server.key",
    )
