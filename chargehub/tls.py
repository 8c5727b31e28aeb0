"""TLS served by daphne itself: OCPP security profiles 2 and 3 without a proxy.

`manage.py serve --tls-port 8443` listens there with OCPP_TLS_CERTIFICATE/OCPP_TLS_KEY,
TLS 1.2 at least (as the whitepaper asks), and asks for a client certificate issued by the
charging-station CA (OCPP_CA_CERTIFICATE): a charger without one still gets in with
TLS and its password (profile 2); one whose certificate does not verify (another CA,
self-signed, expired) fails the handshake. Daphne's scope knows nothing of TLS, so the
server adds the ASGI TLS extension (`scope["extensions"]["tls"]`) to each WebSocket's
scope, with the client's certificate, for stations/ocpp/connections.py.
"""

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from daphne.server import Server
from django.conf import settings
from twisted.internet import ssl
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import ISSLTransport

from chargehub.server_processes import LISTEN_BACKLOG

# An endpoint description daphne passes on to server_from_string().
ENDPOINT_PREFIX = "chargehub-tls:"


def endpoint_description(host: str, port: int) -> str:
    return f"{ENDPOINT_PREFIX}{port}:{host}"


def server_options(
    certificate_file: str, key_file: str, client_ca_file: str = ""
) -> ssl.CertificateOptions:
    """The TLS context: our chain and key; client certificates verified against the CA
    when one is named, but not required (profile 2 chargers have none)."""
    chain = x509.load_pem_x509_certificates(Path(certificate_file).read_bytes())
    pem = [certificate.public_bytes(serialization.Encoding.PEM) for certificate in chain]
    own = ssl.PrivateCertificate.loadPEM(pem[0] + Path(key_file).read_bytes())
    authorities = (
        [ssl.Certificate.loadPEM(Path(client_ca_file).read_bytes()).original]
        if client_ca_file
        else []
    )
    return ssl.CertificateOptions(
        privateKey=own.privateKey.original,
        certificate=own.original,
        extraCertChain=[ssl.Certificate.loadPEM(extra).original for extra in pem[1:]],
        verify=bool(authorities),
        caCerts=authorities or None,
        requireCertificate=False,
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
    )


def server_from_string(reactor: Any, description: str) -> Any:
    """Twisted's serverFromString, plus our TLS endpoint (daphne calls this one)."""
    if not description.startswith(ENDPOINT_PREFIX):
        return serverFromString(reactor, description)
    port, _, host = description.removeprefix(ENDPOINT_PREFIX).partition(":")
    options = server_options(
        settings.OCPP_TLS_CERTIFICATE, settings.OCPP_TLS_KEY, settings.OCPP_CA_CERTIFICATE
    )
    return SSL4ServerEndpoint(reactor, int(port), options, backlog=LISTEN_BACKLOG, interface=host)


class TlsAwareServer(Server):
    """Daphne's server, adding the ASGI TLS extension to the scope of TLS connections."""

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        transport = getattr(protocol, "transport", None)
        if transport is not None and ISSLTransport.providedBy(transport):
            peer = transport.getPeerCertificate()
            chain = []
            if peer is not None:
                certificate = peer.to_cryptography()
                chain = [certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")]
            extensions = {**scope.get("extensions", {}), "tls": {"client_cert_chain": chain}}
            scope = {**scope, "extensions": extensions}
        return super().create_application(protocol, scope)
