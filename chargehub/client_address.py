"""The client's IP address, for every limit counted per client (API throttles, login rates).

Behind TRUSTED_PROXY_COUNT reverse proxies of ours, each of which appends the address it was
reached from to X-Forwarded-For, the client is that many entries from the right: what a
client writes into the header itself lands further left and is ignored. With no trusted
proxy (the default) the header is ignored altogether, or anyone could be anyone.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    return address_behind_proxies(
        request.META.get("REMOTE_ADDR", ""), request.headers.get("x-forwarded-for", "")
    )


def address_behind_proxies(remote_addr: str, forwarded_for: str) -> str:
    """The client's address from the connection's and the X-Forwarded-For header's (HTTP
    and WebSocket handshakes alike)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [address.strip() for address in forwarded_for.split(",") if address.strip()]
    if proxies <= 0 or not forwarded:
        return remote_addr
    # Fewer entries than proxies: the request skipped an outer proxy; the leftmost entry
    # is the furthest any of ours saw.
    return forwarded[-min(proxies, len(forwarded))]
