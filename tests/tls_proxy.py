"""A stand-in for the documented nginx in front of ChargeHub (README, "TLS behind nginx"):
it terminates TLS, verifies a client certificate against the charging-station CA when
one is presented (nginx `ssl_verify_client optional`: a certificate that does not verify
fails the handshake), and passes the request on over plain HTTP with the headers nginx's
configuration sets, overwriting any the client sent: X-Forwarded-For, X-Forwarded-Proto
and X-SSL-Client-Cert (the URL-encoded PEM, as $ssl_client_escaped_cert)."""

import asyncio
import ssl
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import serialization

# Set by the proxy only: a client's own copies of these are dropped.
PROXY_HEADERS = (b"x-forwarded-for", b"x-forwarded-proto", b"x-ssl-client-cert")


class TlsProxy:
    def __init__(self, backend_port: int, certificate: Path, key: Path, client_ca: Path) -> None:
        self.backend_port = backend_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certificate, key)
        self.context.load_verify_locations(client_ca)
        self.context.verify_mode = ssl.CERT_OPTIONAL
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> "TlsProxy":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        request_line, *lines = head[:-4].split(b"\r\n")
        kept = [line for line in lines if line.split(b":")[0].strip().lower() not in PROXY_HEADERS]
        peer = writer.get_extra_info("peername")[0]
        added = [b"X-Forwarded-For: " + peer.encode(), b"X-Forwarded-Proto: https"]
        certificate = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        if certificate:
            pem = x509.load_der_x509_certificate(certificate).public_bytes(
                serialization.Encoding.PEM
            )
            added.append(b"X-SSL-Client-Cert: " + quote(pem.decode()).encode())
        backend_reader, backend_writer = await asyncio.open_connection(
            "127.0.0.1", self.backend_port
        )
        self.writers.add(backend_writer)
        backend_writer.write(b"\r\n".join([request_line, *kept, *added]) + b"\r\n\r\n")
        await asyncio.gather(self._pipe(reader, backend_writer), self._pipe(backend_reader, writer))

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                target.write(data)
                await target.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            target.close()
