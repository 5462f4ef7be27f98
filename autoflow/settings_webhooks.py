"""The Outbound webhooks section of settings.py, in a module of its own (settings.py imports it at
its end): delivery, retries, the circuit and the SSRF guard of inquiries/webhook_sender.py
(docs/webhooks.md). The variables are in `.env.example`, section Outbound webhooks."""

import environ

_env = environ.Env()  # settings.py has already read `.env` into the environment

# Private, loopback, link-local, multicast and reserved targets are refused (at save and at each
# delivery, on the address connected to) unless this is true: for receivers on your own network.
OUTBOUND_WEBHOOK_ALLOW_PRIVATE = _env.bool("OUTBOUND_WEBHOOK_ALLOW_PRIVATE", default=False)
# Seconds to connect, and for the whole request (connect, send, the capped response read).
OUTBOUND_WEBHOOK_CONNECT_TIMEOUT = _env.float("OUTBOUND_WEBHOOK_CONNECT_TIMEOUT", default=3.0)
OUTBOUND_WEBHOOK_TIMEOUT = _env.float("OUTBOUND_WEBHOOK_TIMEOUT", default=10.0)
# Retries: exponential backoff with full jitter, delay ≤ min(MAX, BASE × 2^(attempt-1)), for at
# most WINDOW seconds after the event; then the delivery is `dead`.
OUTBOUND_WEBHOOK_RETRY_BASE_SECONDS = _env.float("OUTBOUND_WEBHOOK_RETRY_BASE_SECONDS", default=5.0)
OUTBOUND_WEBHOOK_RETRY_MAX_SECONDS = _env.float("OUTBOUND_WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
OUTBOUND_WEBHOOK_RETRY_WINDOW_SECONDS = _env.float("OUTBOUND_WEBHOOK_RETRY_WINDOW_SECONDS", default=86400.0)
# The circuit: after this many consecutive failed attempts to an endpoint, no attempt to it for
# CIRCUIT_SECONDS; then one probe, which closes it or opens it again.
OUTBOUND_WEBHOOK_CIRCUIT_FAILURES = _env.int("OUTBOUND_WEBHOOK_CIRCUIT_FAILURES", default=5)
OUTBOUND_WEBHOOK_CIRCUIT_SECONDS = _env.float("OUTBOUND_WEBHOOK_CIRCUIT_SECONDS", default=300.0)
# How often each worker process's sender thread looks for due deliveries (seconds).
OUTBOUND_WEBHOOK_POLL_SECONDS = _env.float("OUTBOUND_WEBHOOK_POLL_SECONDS", default=2.0)
