"""One outbound webhook request: the SSRF guard, the Standard Webhooks signature, the POST.

- The guard resolves the URL's host and refuses it when any of its addresses is private,
  loopback, link-local, multicast, reserved or unspecified (unless
  OUTBOUND_WEBHOOK_ALLOW_PRIVATE), at a subscription's save and again at each delivery. The
  request then connects to the address that was checked (the URL's host stays in `Host` and in
  TLS's SNI and certificate check), so a DNS answer that changes in between cannot redirect it.
- Redirects are not followed (a 3xx is the receiver's answer); connect timeout
  OUTBOUND_WEBHOOK_CONNECT_TIMEOUT, the whole request within OUTBOUND_WEBHOOK_TIMEOUT; at most
  RESPONSE_CAP bytes of the response are read.
- Signature (https://www.standardwebhooks.com): `v1,<base64 HMAC-SHA256 of id.timestamp.body>`
  with the base64-decoded key after `whsec_`, one per secret, space separated, by the
  `standardwebhooks` reference implementation."""

import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from core import tracing

RESPONSE_CAP = 4096
USER_AGENT = "AutoFlow-Webhooks/1"


class TargetRefused(Exception):
    """The URL may not be called: its scheme, or an address its host resolves to."""


class Unresolvable(TargetRefused):
    """The host does not resolve (now): refused at a save, retried at a delivery."""


def address_refused(address: str) -> str:
    """Why an IP address is no target for a webhook, or "" when it is a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return f"{ip} is a {kind.replace('_', '-')} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return ""


def resolve(url: str, *, allow_private: bool | None = None) -> tuple[str, str, int]:
    """The URL's (host, checked IP address, port); `TargetRefused` when it may not be called."""
    allow = settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE if allow_private is None else allow_private
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("only http:// and https:// URLs with a host")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(str(exc)) from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise Unresolvable(f"{host} does not resolve")
    if not allow:
        for address in addresses:
            reason = address_refused(address)
            if reason:
                raise TargetRefused(f"{host}: {reason} (OUTBOUND_WEBHOOK_ALLOW_PRIVATE is off)")
    return host, addresses[0], port


def sign(secrets: list[str], *, msg_id: str, timestamp: datetime, body: str) -> str:
    return " ".join(Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secrets)


@dataclass
class Answer:
    status_code: int | None
    latency_ms: int
    excerpt: str = ""
    error: str = ""
    retry_after: float | None = None
    address: str = ""


def _retry_after(value: str | None) -> float | None:
    """The receiver's Retry-After in seconds, never beyond the retry window: "999999999999" must
    not overflow a date (the delivery is given up at the window's end anyway)."""
    if not value:
        return None
    value = value.strip()[:40]
    cap = float(settings.OUTBOUND_WEBHOOK_RETRY_WINDOW_SECONDS)
    if value.isdigit():
        return min(float(value), cap)
    try:
        from email.utils import parsedate_to_datetime

        return min(max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0), cap)
    except (TypeError, ValueError, OverflowError):
        return None


def post(url: str, *, body: str, msg_id: str, secrets: list[str], allow_private: bool | None = None) -> Answer:
    """POST `body` to `url`, signed; the receiver's answer, or the error that prevented one."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        host, address, port = resolve(url, allow_private=allow_private)
    except Unresolvable as exc:  # DNS may be back later: a connection error, retried
        return Answer(None, elapsed(), error=f"ConnectError: {exc}"[:500])
    except TargetRefused as exc:
        return Answer(None, elapsed(), error=f"refused: {exc}")
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    target = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json", "user-agent": USER_AGENT, "host": parts.netloc.rpartition("@")[2],
        "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(secrets, msg_id=msg_id, timestamp=now, body=body),
    }
    total = settings.OUTBOUND_WEBHOOK_TIMEOUT
    timeout = httpx.Timeout(total, connect=min(settings.OUTBOUND_WEBHOOK_CONNECT_TIMEOUT, total))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        with tracing.untraced_http(), \
                httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client, \
                client.stream("POST", target, content=body.encode(), headers=headers,
                              extensions=extensions) as response:
            chunks, size = [], 0
            for chunk in response.iter_raw():
                chunks.append(chunk)
                size += len(chunk)
                if size >= RESPONSE_CAP or time.monotonic() - started > total:
                    break
            excerpt = b"".join(chunks)[:RESPONSE_CAP].decode("utf-8", "replace")
            return Answer(response.status_code, elapsed(), excerpt=excerpt[:1000],
                          retry_after=_retry_after(response.headers.get("retry-after")), address=address)
    except httpx.TimeoutException as exc:
        return Answer(None, elapsed(), error=f"timeout: {type(exc).__name__}", address=address)
    except (httpx.HTTPError, OSError) as exc:
        return Answer(None, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500], address=address)
