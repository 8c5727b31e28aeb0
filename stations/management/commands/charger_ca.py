"""ChargeHub's charging-station CA and charger certificates (stations/certificates.py).

    python manage.py charger_ca create --name "ChargeHub charging-station CA" --days 3650
    python manage.py charger_ca show
    python manage.py charger_ca issue CP-1 --out /secure/dir   # CP-1.key, CP-1.pem

`create` writes OCPP_CA_CERTIFICATE and OCPP_CA_KEY (never over existing files). `issue`
is for a charger that cannot send a CSR itself (SignCertificate does it for those that
can): a new key pair, its certificate signed and recorded, both written to --out.
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stations import certificates
from stations.models import ChargePoint


class Command(BaseCommand):
    help = "Create the charging-station CA, show it, or issue a charger's certificate."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create the CA's certificate and key")
        create.add_argument("--name", default="ChargeHub charging-station CA")
        create.add_argument("--days", type=int, default=3650)
        actions.add_parser("show", help="Print the CA's subject, expiry and fingerprint")
        issue = actions.add_parser("issue", help="Issue a certificate with a new key")
        issue.add_argument("charge_point_id")
        issue.add_argument("--out", required=True, help="Folder for <id>.key and <id>.pem")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, action)(**options)
        except certificates.CertificateError as error:
            raise CommandError(str(error)) from None

    def create(self, name: str, days: int, **options: Any) -> None:
        certificate_path, key_path = settings.OCPP_CA_CERTIFICATE, settings.OCPP_CA_KEY
        if not certificate_path or not key_path:
            raise CommandError("Set OCPP_CA_CERTIFICATE and OCPP_CA_KEY to the files to write.")
        if Path(certificate_path).exists() or Path(key_path).exists():
            raise CommandError("The CA files exist already; a new CA would lock chargers out.")
        certificate, key = certificates.create_ca(name, days)
        Path(key_path).touch(mode=0o600)
        Path(key_path).write_bytes(key)
        Path(certificate_path).write_bytes(certificate)
        self.stdout.write(f"CA written to {certificate_path} (key: {key_path})")

    def show(self, **options: Any) -> None:
        ca = certificates.ca_certificate()
        if ca is None:
            raise CommandError("No readable CA: set OCPP_CA_CERTIFICATE (charger_ca create).")
        self.stdout.write(f"Subject: {ca.subject.rfc4514_string()}")
        self.stdout.write(f"Valid until: {ca.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(f"SHA-256 fingerprint: {certificates.fingerprint(ca)}")

    def issue(self, charge_point_id: str, out: str, **options: Any) -> None:
        charge_point = ChargePoint.objects.filter(charge_point_id=charge_point_id).first()
        if charge_point is None:
            raise CommandError(f"No charge point {charge_point_id!r}")
        key, csr = certificates.new_key_and_csr(charge_point_id)
        issued = certificates.issue(charge_point, csr)
        folder = Path(out)
        (folder / f"{charge_point_id}.key").touch(mode=0o600)
        (folder / f"{charge_point_id}.key").write_bytes(key)
        (folder / f"{charge_point_id}.pem").write_text(issued.pem)
        self.stdout.write(
            f"{charge_point_id}: certificate {issued.serial_number} valid until "
            f"{issued.not_after:%Y-%m-%d} written to {folder}"
        )
