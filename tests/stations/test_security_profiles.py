"""OCPP 1.6 security whitepaper profiles 2 and 3, over real TLS with real certificates.

Two shapes: `manage.py serve --tls-port` serving TLS itself (chargehub/tls.py), and a
plain server behind a TLS proxy that verifies the client certificate and passes it in
a header: real nginx running docs/nginx/ocpp-tls.conf, and tests/tls_proxy.py doing the
same where nginx is not installed. Both times a simulated
1.6 charger connects over a WebSocket, as a charger does.
"""

import os
import shutil
import ssl
import subprocess
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from cryptography import x509
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from stations import operations
from stations.models import ChargePoint, ChargerCertificate, RefusedConnection
from tests.conftest import PASSWORD, register
from tests.stations.tls import client_context, tls_charger
from tests.tls_proxy import TlsProxy
from tests.waiting import eventually, free_port, port_is_open, wait_until


async def refusal_reason(charge_point_id: str) -> str:
    refused = await eventually(
        lambda: RefusedConnection.objects.filter(charge_point_id=charge_point_id).first()
    )
    return refused.reason


# Client certificates no profile 3 connection may use (tests/pki.py Pki.client options).
UNTRUSTED_CERTIFICATES = [
    pytest.param({"starts": timedelta(days=-40)}, id="expired"),
    pytest.param({"self_signed": True}, id="self-signed"),
]


def stored_profile(charge_point_id: str) -> int:
    return ChargePoint.objects.get(charge_point_id=charge_point_id).security_profile


# --- Served directly (daphne's TLS endpoint) --------------------------------------------


async def test_profile_3_charger_with_its_own_certificate_is_accepted(tls_server, pki, db_access):
    await sync_to_async(register)("TLS-3A", None, security_profile=3)
    context = client_context(pki, pki.client("TLS-3A"))
    async with tls_charger(tls_server[1], "TLS-3A", context) as cp:
        answer = await cp.boot()
    assert answer.status == "Accepted"


async def test_valid_certificate_of_another_charger_is_refused(tls_server, pki, db_access):
    await sync_to_async(register)("TLS-3B", None, security_profile=3)
    # Issued by our CA, valid today, but for TLS-OTHER: it must not open TLS-3B's door.
    context = client_context(pki, pki.client("TLS-OTHER"))
    with pytest.raises(InvalidStatus) as refusal:
        async with tls_charger(tls_server[1], "TLS-3B", context):
            pass
    assert refusal.value.response.status_code == 403
    assert await refusal_reason("TLS-3B") == "client certificate is for another charge point"


@pytest.mark.parametrize("certificate", UNTRUSTED_CERTIFICATES)
async def test_expired_or_self_signed_certificate_fails_the_tls_handshake(
    tls_server, pki, db_access, certificate
):
    await sync_to_async(register)("TLS-3C", None, security_profile=3)
    context = client_context(pki, pki.client("TLS-3C", **certificate))
    with pytest.raises((ssl.SSLError, OSError, InvalidHandshake)):
        async with tls_charger(tls_server[1], "TLS-3C", context) as cp:
            await cp.boot()
    assert not await sync_to_async(
        ChargePoint.objects.filter(charge_point_id="TLS-3C", is_connected=True).exists
    )()


async def test_revoked_certificate_is_refused(tls_server, pki, db_access):
    charge_point = await sync_to_async(register)("TLS-3D", None, security_profile=3)
    certificate = pki.client("TLS-3D")
    serial = x509.load_pem_x509_certificate(certificate[0].read_bytes()).serial_number
    await sync_to_async(ChargerCertificate.objects.create)(
        charge_point=charge_point,
        serial_number=format(serial, "x"),
        subject="CN=TLS-3D",
        not_before="2026-01-01T00:00Z",
        not_after="2036-01-01T00:00Z",
        pem=certificate[0].read_text(),
        revoked_at="2026-02-01T00:00Z",
    )
    with pytest.raises(InvalidStatus):
        async with tls_charger(tls_server[1], "TLS-3D", client_context(pki, certificate)):
            pass
    assert await refusal_reason("TLS-3D") == "client certificate is revoked"


async def test_profile_2_tls_with_password_is_accepted_and_remembered(tls_server, pki, db_access):
    await sync_to_async(register)("TLS-2A")
    async with tls_charger(tls_server[1], "TLS-2A", client_context(pki), PASSWORD) as cp:
        answer = await cp.boot()
    assert answer.status == "Accepted"
    assert await sync_to_async(stored_profile)("TLS-2A") == 2


async def test_profile_2_charger_may_not_come_back_over_plain_websocket(
    tls_server, db_access, charger
):
    await sync_to_async(register)("TLS-2B", security_profile=2)
    with pytest.raises(InvalidStatus):
        async with charger("TLS-2B", server=tls_server[0]):
            pass
    assert await refusal_reason("TLS-2B") == ("security profile 2 required, connection offers 1")


async def test_profile_3_charger_may_not_come_back_with_a_password_only(tls_server, pki, db_access):
    await sync_to_async(register)("TLS-3E", security_profile=3)
    with pytest.raises(InvalidStatus):
        async with tls_charger(tls_server[1], "TLS-3E", client_context(pki), PASSWORD):
            pass
    assert await refusal_reason("TLS-3E") == ("security profile 3 required, connection offers 2")


async def test_a_charger_raised_to_profile_2_by_change_configuration_may_not_come_back_below_it(
    tls_server, pki, db_access, charger
):
    """Whitepaper A05: staff send ChangeConfiguration(SecurityProfile) (admin's *Change
    configuration…*); the charger reconnects over TLS with its password, and from then on
    ChargeHub refuses it at a lower profile (A05.FR.09)."""
    async with charger("TLS-A05", server=tls_server[0]) as cp:
        await cp.boot()
        answer = await sync_to_async(operations.change_configuration)(
            "TLS-A05", "SecurityProfile", "2"
        )
        assert answer.status == "Accepted"
    assert ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"}) in cp.received
    assert await sync_to_async(stored_profile)("TLS-A05") == 1  # until it comes back at 2
    async with tls_charger(tls_server[1], "TLS-A05", client_context(pki), PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"
    assert await sync_to_async(stored_profile)("TLS-A05") == 2
    with pytest.raises(InvalidStatus):
        async with charger("TLS-A05", server=tls_server[0]):
            pass
    assert await refusal_reason("TLS-A05") == "security profile 2 required, connection offers 1"


# --- Behind a TLS proxy (nginx) -------------------------------------------------------------


def backend_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_behind_the_proxy_the_charger_s_own_certificate_is_accepted(
    proxied_server, pki, db_access
):
    await sync_to_async(register)("PRX-3A", None, security_profile=3)
    context = client_context(pki, pki.client("PRX-3A"))
    async with TlsProxy(
        backend_port(proxied_server), pki.server_certificate, pki.server_key, pki.ca_certificate
    ) as proxy:
        async with tls_charger(f"wss://127.0.0.1:{proxy.port}", "PRX-3A", context) as cp:
            answer = await cp.boot()
    assert answer.status == "Accepted"


async def test_behind_the_proxy_another_charger_s_certificate_is_refused(
    proxied_server, pki, db_access
):
    await sync_to_async(register)("PRX-3B", None, security_profile=3)
    context = client_context(pki, pki.client("PRX-OTHER"))
    async with TlsProxy(
        backend_port(proxied_server), pki.server_certificate, pki.server_key, pki.ca_certificate
    ) as proxy:
        with pytest.raises(InvalidStatus):
            async with tls_charger(f"wss://127.0.0.1:{proxy.port}", "PRX-3B", context):
                pass
    assert await refusal_reason("PRX-3B") == "client certificate is for another charge point"


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        pytest.param(
            {"starts": timedelta(days=-40)},
            "client certificate is expired or not yet valid",
            id="expired",
        ),
        pytest.param(
            {"self_signed": True},
            "client certificate is not issued by the charging-station CA",
            id="self-signed",
        ),
    ],
)
async def test_behind_a_loose_proxy_an_expired_or_self_signed_certificate_is_refused(
    proxied_server, pki, db_access, certificate, reason
):
    """A proxy set up without verifying client certificates passes on whatever it got:
    ChargeHub checks the chain and the validity itself (stations/certificates.py)."""
    await sync_to_async(register)("PRX-3D", None, security_profile=3)
    pem = quote(pki.client("PRX-3D", **certificate)[0].read_text())
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(
            f"{proxied_server}/ocpp/PRX-3D",
            subprotocols=["ocpp1.6"],
            additional_headers={"X-SSL-Client-Cert": pem, "X-Forwarded-Proto": "https"},
        ):
            pass
    assert refusal.value.response.status_code == 403
    assert await refusal_reason("PRX-3D") == reason


async def test_certificate_header_is_ignored_without_a_trusted_proxy(
    tls_server, pki, db_access, charger
):
    """The header is only a trusted proxy's word: sent straight to a server that trusts
    no proxy, a forged one (even with a genuine certificate) proves nothing."""
    await sync_to_async(register)("PRX-3C", None, security_profile=3)
    forged = quote(pki.client("PRX-3C")[0].read_text())
    with pytest.raises(InvalidStatus):
        async with connect(
            f"{tls_server[0]}/ocpp/PRX-3C",
            subprotocols=["ocpp1.6"],
            additional_headers={"X-SSL-Client-Cert": forged, "X-Forwarded-Proto": "https"},
        ):
            pass
    assert await refusal_reason("PRX-3C") == ("security profile 3 required, connection offers 1")


# --- Behind real nginx, with the documented configuration ----------------------------------

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DOCUMENTED = Path(__file__).resolve().parents[2] / "docs" / "nginx" / "ocpp-tls.conf"


@pytest.fixture(scope="module")
def nginx(proxied_server, pki, tmp_path_factory):
    """nginx running docs/nginx/ocpp-tls.conf, its addresses and paths replaced; wss:// URL."""
    if not os.access(NGINX, os.X_OK):
        pytest.skip("nginx is not installed (scripts/ensure-nginx, as root, installs nginx-light)")
    port, directory = free_port(), tmp_path_factory.mktemp("nginx")
    conf = DOCUMENTED.read_text()
    for documented, here in (
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{backend_port(proxied_server)};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/chargehub/server-chain.pem", str(pki.server_certificate)),
        ("/etc/chargehub/server.key", str(pki.server_key)),
        ("/etc/chargehub/ca.pem", str(pki.ca_certificate)),
    ):
        assert documented in conf, documented  # the test must run what the file says
        conf = conf.replace(documented, here)
    (directory / "chargehub.conf").write_text(conf)
    temp = " ".join(
        f"{kind}_temp_path {directory}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {directory}/nginx.pid;\nerror_log {directory}/error.log;\n"
        + f"events {{}}\nhttp {{ access_log off; {temp} include {directory}/chargehub.conf; }}\n"
    )
    process = subprocess.Popen([NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf")])
    try:
        assert wait_until(lambda: port_is_open(port), timeout=10), (
            directory / "error.log"
        ).read_text()
        yield f"wss://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_behind_nginx_the_charger_s_own_certificate_is_accepted(nginx, pki, db_access):
    await sync_to_async(register)("NGX-3A", None, security_profile=3)
    context = client_context(pki, pki.client("NGX-3A"))
    async with tls_charger(nginx, "NGX-3A", context) as cp:
        answer = await cp.boot()
    assert answer.status == "Accepted"


async def test_behind_nginx_another_charger_s_certificate_is_refused(nginx, pki, db_access):
    await sync_to_async(register)("NGX-3B", None, security_profile=3)
    context = client_context(pki, pki.client("NGX-OTHER"))
    with pytest.raises(InvalidStatus) as refusal:
        async with tls_charger(nginx, "NGX-3B", context):
            pass
    assert refusal.value.response.status_code == 403
    assert await refusal_reason("NGX-3B") == "client certificate is for another charge point"


async def test_behind_nginx_profile_2_tls_with_password_is_accepted_and_remembered(
    nginx, pki, db_access
):
    await sync_to_async(register)("NGX-2A")
    async with tls_charger(nginx, "NGX-2A", client_context(pki), PASSWORD) as cp:
        assert (await cp.boot()).status == "Accepted"
    assert await sync_to_async(stored_profile)("NGX-2A") == 2


@pytest.mark.parametrize("certificate", UNTRUSTED_CERTIFICATES)
async def test_behind_nginx_an_expired_or_self_signed_certificate_is_refused(
    nginx, pki, db_access, certificate
):
    """nginx verifies the certificate (`ssl_verify_client optional`): one that does not
    verify is answered 400 there and never reaches ChargeHub."""
    await sync_to_async(register)("NGX-3D", None, security_profile=3)
    context = client_context(pki, pki.client("NGX-3D", **certificate))
    with pytest.raises(InvalidStatus) as refusal:
        async with tls_charger(nginx, "NGX-3D", context):
            pass
    assert refusal.value.response.status_code == 400
    assert not await sync_to_async(
        RefusedConnection.objects.filter(charge_point_id="NGX-3D").exists
    )()


async def test_behind_nginx_a_forged_certificate_header_is_replaced(nginx, pki, db_access):
    """A charger with no certificate that sends a genuine one's PEM in the header: nginx
    overwrites it with its own (empty) value, so the connection offers profile 2 only."""
    await sync_to_async(register)("NGX-3C", None, security_profile=3)
    forged = quote(pki.client("NGX-3C")[0].read_text())
    with pytest.raises(InvalidStatus):
        async with connect(
            f"{nginx}/ocpp/NGX-3C",
            subprotocols=["ocpp1.6"],
            ssl=client_context(pki),
            additional_headers={"X-SSL-Client-Cert": forged},
        ):
            pass
    assert await refusal_reason("NGX-3C") == "security profile 3 required, connection offers 2"
