"""The client's address, and which proxies may say who it is.

`TRUSTED_PROXIES` (settings, from the environment: addresses or CIDRs, parsed once by
`proxy_networks`) are the proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` count. Loopback
(127.0.0.1, ::1) is always trusted in addition: our own nginx (scripts/web.py) connects to the app
from there, and it has already replaced `X-Forwarded-For` with the address it established.

`client_ip`: when the peer is a trusted proxy, `X-Forwarded-For` is read from right to left, past
the trusted proxies; the first address that is not one is the client. An entry that is not an
address stops the walk (the last trusted hop is then the client: whatever stands left of garbage
could have been written by anyone). From any other peer, the peer is the client, whatever it sent.
`core.middleware.ForwardedHeadersMiddleware` removes the `X-Forwarded-*` headers of such peers, so
that Django's SECURE_PROXY_SSL_HEADER never believes them either.
"""

import ipaddress
from collections.abc import Iterable

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


def proxy_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`TRUSTED_PROXIES` entries (addresses or CIDRs; blanks ignored) as networks; ValueError names
    an entry that is neither."""
    networks = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {text!r} is neither an IP address nor a network (CIDR)") from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as a header or REMOTE_ADDR carries it (IPv6 possibly in brackets); None when it
    is none. An IPv4-mapped IPv6 address is the IPv4 address it maps."""
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(address: Address | str | None) -> bool:
    if isinstance(address, str):
        address = parse_address(address)
    if address is None:
        return False
    return any(address in network for network in (*LOOPBACK, *settings.TRUSTED_PROXIES))


def client_ip(request) -> str:
    cached = getattr(request, "_client_ip", None)
    if cached is not None:
        return cached
    peer = request.META.get("REMOTE_ADDR", "") or ""
    address = peer
    if is_trusted_proxy(peer):
        address = str(parse_address(peer))
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        for entry in reversed(forwarded.split(",") if forwarded.strip() else []):
            hop = parse_address(entry)
            if hop is None:
                break
            address = str(hop)
            if not is_trusted_proxy(hop):
                break
    request._client_ip = address
    return address
