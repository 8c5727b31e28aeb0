"""Fixtures of the security profile and certificate tests: the test PKI and a server
serving plain WebSocket and TLS at once (tests/stations/tls.py connects to it); a server
on a Redis of the test's own."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from tests.pki import Pki, make_pki
from tests.redis_servers import RedisServer
from tests.waiting import free_port, port_is_open, wait_until


@pytest.fixture(scope="session")
def pki(tmp_path_factory: Any) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_server(start_server: Callable[..., str], pki: Pki) -> tuple[str, str]:
    """(ws://, wss://) of one server serving both: plain for profile 1, TLS for 2 and 3."""
    tls_port = free_port()
    plain = start_server("--tls-port", str(tls_port), **pki.env())
    # Both ports are bound at start; this only makes sure it is ours that answers.
    assert wait_until(lambda: port_is_open(tls_port), timeout=10)
    return plain, f"wss://127.0.0.1:{tls_port}"


@pytest.fixture(scope="session")
def proxied_server(start_server: Callable[..., str], pki: Pki) -> str:
    """A plain server that trusts one TLS proxy in front of it (README: behind nginx)."""
    return start_server(
        TRUSTED_PROXY_COUNT="1",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        OCPP_PROXY_CLIENT_CERT_HEADER="X-SSL-Client-Cert",
        OCPP_CA_CERTIFICATE=str(pki.ca_certificate),
    )


@pytest.fixture
def server_on_redis(start_server: Callable[..., str], redis_server: RedisServer) -> Iterator[str]:
    """A server whose channel layer is `redis_server`, and this process's layer too."""
    url = start_server(REDIS_URL=redis_server.url)
    layer = {
        "BACKEND": "chargehub.redis_channel_layer.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": redis_server.url, "socket_timeout": 20}]},
    }
    with override_settings(CHANNEL_LAYERS={"default": layer}):
        yield url
