"""The security whitepaper's certificate messages (edition 3, chapter 4) with a simulated
1.6 charger: its CSR signed by ChargeHub's CA and installed, then used for profile 3;
renewal before expiry; roots installed, read and deleted; admin's view of it all; the CA
and a certificate made with `manage.py charger_ca`."""

import io
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from ocpp.v16 import call

from stations import certificates, operations, tasks
from stations.models import ChargePoint, ChargerCertificate, InstalledCertificate
from tests.conftest import register
from tests.stations.tls import client_context, tls_charger
from tests.waiting import eventually


def new_csr(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """What a charger does before SignCertificate: a key pair and a CSR for its id."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def certificate_signed(cp) -> list[dict]:
    return [kwargs for action, kwargs in cp.received if action == "CertificateSigned"]


async def test_csr_is_signed_installed_and_then_opens_profile_3(
    tls_server, pki, db_access, charger, tmp_path
):
    async with charger("CSR-1", server=tls_server[0]) as cp:
        assert (await cp.boot()).status == "Accepted"
        key, csr = new_csr("CSR-1")
        answer = await cp.call(call.SignCertificate(csr=csr))
        assert answer.status == "Accepted"
        signed = await eventually(lambda: certificate_signed(cp), timeout=20)
        chain = signed[0]["certificate_chain"]
        stored = await eventually(
            lambda: ChargerCertificate.objects.filter(
                charge_point__charge_point_id="CSR-1", installed_at__isnull=False
            ).first(),
            timeout=20,
        )

    certificate = x509.load_pem_x509_certificate(chain.encode())
    ca = x509.load_pem_x509_certificate(pki.ca_certificate.read_bytes())
    certificate.verify_directly_issued_by(ca)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CSR-1"
    assert stored.serial_number == format(certificate.serial_number, "x")
    assert stored.not_after == certificate.not_valid_after_utc

    # The charger now connects with the key it kept and the certificate it got.
    (tmp_path / "cp.pem").write_text(chain)
    (tmp_path / "cp.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = client_context(pki, (tmp_path / "cp.pem", tmp_path / "cp.key"))
    async with tls_charger(tls_server[1], "CSR-1", context) as cp:
        assert (await cp.boot()).status == "Accepted"
    profile = await sync_to_async(
        lambda: ChargePoint.objects.get(charge_point_id="CSR-1").security_profile
    )()
    assert profile == 3


async def test_csr_for_another_charger_is_rejected(tls_server, db_access, charger):
    async with charger("CSR-2", server=tls_server[0]) as cp:
        await cp.boot()
        _, csr = new_csr("CSR-SOMEONE-ELSE")
        answer = await cp.call(call.SignCertificate(csr=csr))
        assert answer.status == "Rejected"
        garbage = "-----BEGIN CERTIFICATE REQUEST-----\nnope\n"
        assert (await cp.call(call.SignCertificate(csr=garbage))).status == "Rejected"
    assert certificate_signed(cp) == []
    assert not await sync_to_async(
        ChargerCertificate.objects.filter(charge_point__charge_point_id="CSR-2").exists
    )()


async def test_certificate_the_charger_rejects_is_kept_but_not_installed(
    ocpp_server, pki, db_access, charger, settings
):
    """Whitepaper A02/A03: a charger that cannot use the certificate answers
    CertificateSigned Rejected; ChargeHub keeps what it signed, not marked installed."""
    settings.OCPP_CA_CERTIFICATE = str(pki.ca_certificate)
    settings.OCPP_CA_KEY = str(pki.ca_key)
    async with charger("CSR-3") as cp:
        cp.answers["CertificateSigned"] = {"status": "Rejected"}
        await cp.boot()
        _, csr = new_csr("CSR-3")
        signed = await sync_to_async(operations.sign_certificate)("CSR-3", csr)
    assert [kwargs["certificate_chain"] for kwargs in certificate_signed(cp)] == [signed.pem]
    stored = await sync_to_async(ChargerCertificate.objects.get)(
        charge_point__charge_point_id="CSR-3"
    )
    assert stored == signed and stored.installed_at is None


def make_certificate(
    charge_point: ChargePoint, serial: str, days_left: float
) -> ChargerCertificate:
    now = timezone.now()
    return ChargerCertificate.objects.create(
        charge_point=charge_point,
        serial_number=serial,
        subject=f"CN={charge_point.charge_point_id}",
        not_before=now - timedelta(days=300),
        not_after=now + timedelta(days=days_left),
        pem="-",
    )


async def test_charger_is_asked_for_a_new_csr_before_its_certificate_expires(
    ocpp_server, db_access, charger
):
    async with charger("RENEW-1") as cp, charger("RENEW-2") as other:
        await cp.boot()
        await other.boot()

        def certificates_of_both() -> ChargerCertificate:
            due = make_certificate(ChargePoint.objects.get(charge_point_id="RENEW-1"), "a1", 10)
            # RENEW-2's old certificate was renewed already: its newer one is far off.
            renewed = ChargePoint.objects.get(charge_point_id="RENEW-2")
            make_certificate(renewed, "b1", 10)
            make_certificate(renewed, "b2", 365)
            return due

        due = await sync_to_async(certificates_of_both)()
        assert await sync_to_async(tasks.renew_expiring_certificates)() == 1
        assert ("ExtendedTriggerMessage", {"requested_message": "SignChargePointCertificate"}) in [
            (action, {k: v for k, v in kwargs.items() if v is not None})
            for action, kwargs in cp.received
        ]
        assert not [action for action, _ in other.received if action == "ExtendedTriggerMessage"]
        await sync_to_async(due.refresh_from_db)()
        assert due.renewal_requested_at is not None
        # Asked once: the next day's run leaves it alone.
        assert await sync_to_async(tasks.renew_expiring_certificates)() == 0


async def test_roots_are_installed_read_and_deleted(ocpp_server, pki, db_access, charger):
    root = pki.server_root.read_text()
    hash_data = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "a" * 64,
        "issuerKeyHash": "b" * 64,
        "serialNumber": "1f",
    }
    async with charger("ROOTS-1") as cp:
        await cp.boot()
        cp.answers["GetInstalledCertificateIds"] = {
            "status": "Accepted",
            "certificateHashData": [hash_data],
        }
        installed = await sync_to_async(operations.install_root_certificate)(
            "ROOTS-1", "CentralSystemRootCertificate", root
        )
        assert installed.status == "Accepted"
        assert cp.received[-1] == (
            "InstallCertificate",
            {"certificate_type": "CentralSystemRootCertificate", "certificate": root},
        )

        roots = await sync_to_async(operations.refresh_installed_certificates)("ROOTS-1")
        # Both types are asked for; this charger answers the same for each.
        assert sorted(r.certificate_type for r in roots) == [
            "CentralSystemRootCertificate",
            "ManufacturerRootCertificate",
        ]
        assert roots[0].hash_data() == hash_data

        answer = await sync_to_async(operations.delete_installed_certificate)(roots[0])
        assert answer.status == "Accepted"
        assert cp.received[-1][0] == "DeleteCertificate"
        sent = cp.received[-1][1]["certificate_hash_data"]
        assert sent == {
            "hash_algorithm": "SHA256",
            "issuer_name_hash": "a" * 64,
            "issuer_key_hash": "b" * 64,
            "serial_number": "1f",
        }
    assert await sync_to_async(InstalledCertificate.objects.count)() == 1


@pytest.mark.django_db
def test_admin_lists_expiring_certificates_shows_the_ca_and_revokes(make_user, pki, settings):
    settings.OCPP_CA_CERTIFICATE = str(pki.ca_certificate)
    staff = make_user(
        "stations.view_chargercertificate", "stations.change_chargercertificate", is_staff=True
    )
    client = Client()
    client.force_login(staff)
    charge_point = register("ADM-CERT")
    soon = make_certificate(charge_point, "c1", 5)
    later = make_certificate(ChargePoint.objects.create(charge_point_id="ADM-CERT-2"), "c2", 200)

    page = client.get("/admin/stations/chargercertificate/?expiry=expiring")
    assert page.status_code == 200
    listed = list(page.context["cl"].result_list)
    assert listed == [soon]
    assert "Test charging-station CA" in page.content.decode()
    ca = x509.load_pem_x509_certificate(pki.ca_certificate.read_bytes())
    assert certificates.fingerprint(ca) in page.content.decode()

    staff.user_permissions.add(Permission.objects.get(codename="view_chargepoint"))
    charger_page = client.get(f"/admin/stations/chargepoint/{charge_point.pk}/change/")
    assert "Own certificate valid until" in charger_page.content.decode()

    client.post(
        "/admin/stations/chargercertificate/",
        {"action": "revoke", "_selected_action": [soon.pk]},
    )
    soon.refresh_from_db()
    later.refresh_from_db()
    assert soon.revoked_at is not None
    assert later.revoked_at is None


@pytest.mark.django_db
def test_revoking_needs_the_change_permission(make_user):
    viewer = make_user("stations.view_chargercertificate", is_staff=True)
    client = Client()
    client.force_login(viewer)
    certificate = make_certificate(register("ADM-CERT-3"), "d1", 5)
    client.post(
        "/admin/stations/chargercertificate/",
        {"action": "revoke", "_selected_action": [certificate.pk]},
    )
    certificate.refresh_from_db()
    assert certificate.revoked_at is None


def external_ca(csr_pem: str, charge_point_id: str) -> str:
    """Stands in for an external CA's client (OCPP_CERTIFICATE_SIGNER): it signs with a
    CA of its own, so the certificate stored is visibly its answer."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "External CA")])
    now = timezone.now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(issuer)
        .public_key(csr.public_key())
        .serial_number(0xE7)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.django_db
def test_csr_goes_to_the_signer_the_setting_names(settings):
    settings.OCPP_CERTIFICATE_SIGNER = f"{__name__}.external_ca"
    charge_point = register("EXT-CA-1")
    _, csr = new_csr("EXT-CA-1")
    issued = certificates.issue(charge_point, csr)
    assert issued.serial_number == "e7"
    assert issued.charge_point == charge_point
    assert (issued.not_after - issued.not_before) == timedelta(days=90)
    # A CSR for another charger never reaches the signer.
    with pytest.raises(certificates.CertificateError):
        certificates.issue(charge_point, new_csr("SOMEONE-ELSE")[1])


@pytest.mark.django_db
def test_charger_ca_create_writes_the_ca_once_and_show_prints_it(settings, tmp_path):
    """README's first step (`charger_ca create`, then `show`); a second create would lock
    out every charger with a certificate of the first CA, so it is refused."""
    settings.OCPP_CA_CERTIFICATE = str(tmp_path / "ca.pem")
    settings.OCPP_CA_KEY = str(tmp_path / "ca.key")
    call_command("charger_ca", "create", "--name", "Example CPO CA", "--days", "30")
    assert (tmp_path / "ca.key").stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Example CPO CA"

    shown = io.StringIO()
    call_command("charger_ca", "show", stdout=shown)
    assert f"SHA-256 fingerprint: {certificates.fingerprint(ca)}" in shown.getvalue()
    with pytest.raises(CommandError, match="exist already"):
        call_command("charger_ca", "create")
    assert x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes()) == ca


async def test_charger_ca_issue_gives_a_charger_without_csr_a_certificate_for_profile_3(
    tls_server, pki, db_access, settings, tmp_path
):
    """README's `charger_ca issue ID --out DIR` for a charger that cannot make a CSR: the
    key and certificate it writes open security profile 3 over real TLS."""
    settings.OCPP_CA_CERTIFICATE = str(pki.ca_certificate)
    settings.OCPP_CA_KEY = str(pki.ca_key)
    await sync_to_async(register)("CA-ISSUED", None, security_profile=3)
    await sync_to_async(call_command)("charger_ca", "issue", "CA-ISSUED", "--out", str(tmp_path))
    assert (tmp_path / "CA-ISSUED.key").stat().st_mode & 0o777 == 0o600
    context = client_context(pki, (tmp_path / "CA-ISSUED.pem", tmp_path / "CA-ISSUED.key"))
    async with tls_charger(tls_server[1], "CA-ISSUED", context) as cp:
        assert (await cp.boot()).status == "Accepted"
    stored = await sync_to_async(ChargerCertificate.objects.get)(
        charge_point__charge_point_id="CA-ISSUED"
    )
    assert stored.pem == (tmp_path / "CA-ISSUED.pem").read_text()
