"""The client's IP address, for every limit counted per client (API throttles, login rates).

Behind TRUSTED_PROXY_COUNT reverse proxies of ours, each of which appends the address it was
reached from to X-Forwarded-For, the client is that many entries from the right: what a
client writes into the header itself lands further left and is ignored. With no trusted
proxy (the default) the header is ignored altogether, or anyone could be anyone.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote_addr = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [
        address.strip()
        for address in request.headers.get("x-forwarded-for", "").split(",")
        if address.strip()
    ]
    if proxies <= 0 or not forwarded:
        return remote_addr
    # Fewer entries than proxies: the request skipped an outer proxy; the leftmost entry
    # is the furthest any of ours saw.
    return forwarded[-min(proxies, len(forwarded))]
