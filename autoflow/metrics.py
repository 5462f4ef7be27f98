"""`GET /metrics`: the Prometheus text exposition of the web tier, with the worker clusters'
samples when they share its PROMETHEUS_MULTIPROC_DIR (core/metrics.py), plus the state read from
the database at scrape time (inquiries/metrics.py).

Who may scrape (autoflow/settings_metrics.py):
- with METRICS_TOKEN set, a request bearing `Authorization: Bearer <METRICS_TOKEN>` (compared
  in constant time), from anywhere;
- a client whose address is in TRUSTED_PROXIES as set in the environment (core/client_ip.py:
  the address nginx established, a trusted proxy's X-Forwarded-For believed as for every other
  route; the default, loopback, does not count here);
- when neither METRICS_TOKEN nor TRUSTED_PROXIES is configured, a client on loopback only
  (127.0.0.1 or ::1, as core/client_ip.py's LOOPBACK).
Anyone else gets 403, in the API's error envelope; the figures are not public (queue sizes,
volumes, model names).
"""

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

from core.client_ip import LOOPBACK, client_ip, parse_address
from core.errors import error_response
from inquiries.metrics import StateCollector


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    offered = _bearer(request)
    if token and offered and hmac.compare_digest(offered.encode(), token.encode()):
        return True
    address = parse_address(client_ip(request))
    if address is None:
        return False
    trusted = settings.METRICS_TRUSTED_NETWORKS
    if any(address in network for network in trusted):
        return True
    # Loopback as our own nginx is (127.0.0.1, ::1), not all of 127.0.0.0/8.
    return not token and not trusted and any(address in network for network in LOOPBACK)


def exposition() -> bytes:
    """Every process's samples (multiprocess mode) or this process's own, then the state read now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    state = CollectorRegistry()
    state.register(StateCollector())
    return generate_latest(processes) + generate_latest(state)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        return error_response(403, "forbidden", "Metrics are not available to this client.")
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)

