"""Outbound webhooks (docs/webhooks.md): subscriptions, deliveries queued in the transaction of the
change that causes them, and the sender that delivers them with retries and a circuit.

Queued: `enqueue_statement` is one INSERT … SELECT over the run's API client's active
subscriptions to the event; the pipelined writers (runs.py, email.py) send it with the change,
the ORM writers (`end_locked`, escalations.py, email.py) run it through `enqueue` inside their
transaction. No subscription: nothing inserted.

Sent: `deliver_due` claims due rows (FOR UPDATE SKIP LOCKED: senders in several worker
processes never take the same row), marks them `delivering` with a claim that lapses after
CLAIM_SECONDS (a sender that dies leaves them to be sent again: at least once), POSTs each
(inquiries/webhook_http.py) and records the attempt. 2xx: `delivered`. Timeouts, connection
errors, 5xx, 408, 409, 429: `failed`, retried after `backoff` (full jitter; Retry-After honoured)
while within OUTBOUND_WEBHOOK_RETRY_WINDOW_SECONDS of the event, else `dead`. Any other answer
(4xx, 3xx, a refused target): `dead`. OUTBOUND_WEBHOOK_CIRCUIT_FAILURES consecutive failures to
a subscription open its circuit for OUTBOUND_WEBHOOK_CIRCUIT_SECONDS: its deliveries wait."""

import json
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from inquiries import webhook_http
from inquiries.models import (
    ApiClient,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from inquiries.models.webhooks import new_secret

from ._pipeline import Statement

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 60
RETRY_STATUSES = frozenset({408, 409, 429})
TERMINAL_EVENTS = {"completed": WebhookEvent.RUN_COMPLETED, "escalated": WebhookEvent.RUN_ESCALATED,
                   "error": WebhookEvent.RUN_ERROR}

_ENQUEUE_SQL = """
INSERT INTO inquiries_webhookdelivery (subscription_id, run_id, event, webhook_id, payload, status, attempts,
    next_attempt_at, last_response_excerpt, last_error, created_at)
SELECT s.id, r.id, %(event)s::text, 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    %(payload)s::jsonb || jsonb_build_object('event', %(event)s::text), 'pending', 0, %(now)s::timestamptz, '', '', %(now)s::timestamptz
FROM inquiries_run r JOIN inquiries_inquiry i ON i.id = r.inquiry_id
JOIN inquiries_webhooksubscription s ON s.api_client_id = i.api_client_id
WHERE r.id = %(run)s::uuid AND s.is_active AND %(event)s::text = ANY(s.events::text[])
"""


def enqueue_statement(run_id, event: str, payload: dict) -> Statement:
    """The INSERT of `event`'s deliveries for the run (its RunStatus `payload` plus `event`)."""
    return _ENQUEUE_SQL, {"event": str(event), "payload": json.dumps(payload, cls=DjangoJSONEncoder),
                          "now": timezone.now(), "run": run_id}


def enqueue(run_id, event: str, payload: dict) -> None:
    """The same, in the caller's transaction (the ORM path)."""
    sql, params = enqueue_statement(run_id, event, payload)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- subscriptions ---------------------------------------------------------------------------------

def _events(events) -> list[str]:
    chosen = [str(e).strip() for e in events if str(e).strip()]
    unknown = sorted(set(chosen) - set(WebhookEvent.values))
    if unknown or not chosen:
        raise ValueError(f"events must be among {', '.join(WebhookEvent.values)}" + (f"; not {unknown}" if unknown else ""))
    return list(dict.fromkeys(chosen))


def subscription_create(*, client: ApiClient, url: str, events) -> WebhookSubscription:
    """A new subscription (its `secret` is shown to the caller once); the URL passes the SSRF guard."""
    webhook_http.resolve(url)
    return WebhookSubscription.objects.create(api_client=client, url=url, events=_events(events))


def subscription_rotate(*, subscription: WebhookSubscription, overlap_hours: float = 24) -> str:
    """A new secret; the old one keeps signing too (a second signature) for `overlap_hours`."""
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_expires_at = timezone.now() + timedelta(hours=overlap_hours)
    subscription.secret = new_secret()
    subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return subscription.secret


def redeliver(*, delivery_id) -> WebhookDelivery | None:
    """An operator's "Redeliver": the same delivery (same webhook-id) is due again now, with its
    attempts kept; a `dead` or `delivered` one comes back too. Its next attempt is logged as a
    redelivery."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, timezone.now()
        delivery.last_error = "redelivery requested"
        delivery.save(update_fields=["status", "next_attempt_at", "last_error"])
    return delivery


# --- the sender ------------------------------------------------------------------------------------

def backoff_ceiling(attempt: int, *, base: float | None = None, cap: float | None = None) -> float:
    """The largest delay after the `attempt`-th failed try: min(cap, base × 2^(attempt-1))."""
    base = settings.OUTBOUND_WEBHOOK_RETRY_BASE_SECONDS if base is None else base
    cap = settings.OUTBOUND_WEBHOOK_RETRY_MAX_SECONDS if cap is None else cap
    return float(min(cap, base * 2 ** max(attempt - 1, 0)))


def backoff(attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None, **kw) -> float:
    """Full jitter: uniform in [0, ceiling]; never sooner than the receiver's Retry-After."""
    delay = (rng or random).uniform(0, backoff_ceiling(attempt, **kw))
    return max(delay, retry_after or 0.0)


_CLAIM_SQL = """
UPDATE inquiries_webhookdelivery d SET status = 'delivering', attempts = d.attempts + 1,
    next_attempt_at = %(claim)s
WHERE d.id IN (
    SELECT d2.id FROM inquiries_webhookdelivery d2
    JOIN inquiries_webhooksubscription s ON s.id = d2.subscription_id
    WHERE d2.status IN ('pending', 'delivering', 'failed') AND d2.next_attempt_at <= %(now)s
      AND s.is_active AND (s.circuit_open_until IS NULL OR s.circuit_open_until <= %(now)s)
    ORDER BY d2.next_attempt_at LIMIT %(limit)s
    FOR UPDATE OF d2 SKIP LOCKED)
RETURNING d.id
"""


def claim_seconds(limit: int) -> float:
    """How long a claim holds its rows: long enough for every one of them to time out in turn, so
    another sender never takes (and sends again) a row this one has yet to try."""
    per_row = settings.OUTBOUND_WEBHOOK_CONNECT_TIMEOUT + settings.OUTBOUND_WEBHOOK_TIMEOUT
    return max(CLAIM_SECONDS, limit * per_row + 30)


def claim(*, now, limit: int) -> list[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, {"now": now, "claim": now + timedelta(seconds=claim_seconds(limit)),
                                    "limit": limit})
        return [row[0] for row in cursor.fetchall()]


def _retryable(answer: webhook_http.Answer) -> bool:
    if answer.status_code is None:
        return not answer.error.startswith("refused:")
    return answer.status_code >= 500 or answer.status_code in RETRY_STATUSES


def attempt(delivery_id: int, *, now=None, allow_private: bool | None = None) -> WebhookDelivery | None:
    """One try of a claimed delivery, recorded with its outcome."""
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.DELIVERING:
        return None
    subscription = delivery.subscription
    if subscription.circuit_open_until and subscription.circuit_open_until > now:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, attempts=delivery.attempts - 1, next_attempt_at=subscription.circuit_open_until)
        return None
    body = json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    answer = webhook_http.post(subscription.url, body=body, msg_id=delivery.webhook_id,
                               secrets=subscription.signing_secrets(now=now), allow_private=allow_private)
    redelivery = delivery.last_error == "redelivery requested"
    ok = answer.status_code is not None and 200 <= answer.status_code < 300
    if ok:
        status, next_at = DeliveryStatus.DELIVERED, None
    elif _retryable(answer):
        delay = backoff(delivery.attempts, retry_after=answer.retry_after)
        deadline = delivery.created_at + timedelta(seconds=settings.OUTBOUND_WEBHOOK_RETRY_WINDOW_SECONDS)
        next_at = now + timedelta(seconds=delay)
        status = DeliveryStatus.FAILED if next_at <= deadline or redelivery else DeliveryStatus.DEAD
        next_at = next_at if status == DeliveryStatus.FAILED else None
    else:
        status, next_at = DeliveryStatus.DEAD, None
    error = answer.error or ("" if ok else f"HTTP {answer.status_code}")
    with transaction.atomic():
        WebhookAttempt.objects.create(delivery=delivery, number=delivery.attempts, started_at=now,
                                      status_code=answer.status_code, latency_ms=answer.latency_ms,
                                      response_excerpt=answer.excerpt[:1000], error=error, outcome=status,
                                      redelivery=redelivery)
        delivery.status, delivery.next_attempt_at = status, next_at
        delivery.last_status_code, delivery.last_latency_ms = answer.status_code, answer.latency_ms
        delivery.last_response_excerpt, delivery.last_error = answer.excerpt[:1000], error
        delivery.delivered_at = now if ok else None
        delivery.save(update_fields=["status", "next_attempt_at", "last_status_code", "last_latency_ms",
                                     "last_response_excerpt", "last_error", "delivered_at"])
        _circuit(subscription, failed=not ok and _retryable(answer), now=now)
    return delivery


def _circuit(subscription: WebhookSubscription, *, failed: bool, now) -> None:
    """Count consecutive failures; open the circuit at OUTBOUND_WEBHOOK_CIRCUIT_FAILURES."""
    if not failed:
        WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0, circuit_open_until=None)
        return
    failures = subscription.consecutive_failures + 1
    opened = (now + timedelta(seconds=settings.OUTBOUND_WEBHOOK_CIRCUIT_SECONDS)
              if failures >= settings.OUTBOUND_WEBHOOK_CIRCUIT_FAILURES else None)
    subscription.consecutive_failures, subscription.circuit_open_until = failures, opened
    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=failures,
                                                                   circuit_open_until=opened)


def deliver_due(*, now=None, limit: int = 20, allow_private: bool | None = None) -> int:
    """Claim and try the due deliveries; how many were tried."""
    clock = (lambda: now) if now is not None else timezone.now  # tests pass a clock; else each try's own time
    tried = 0
    for delivery_id in claim(now=clock(), limit=limit):
        try:
            if attempt(delivery_id, now=clock(), allow_private=allow_private) is not None:
                tried += 1
        except Exception:  # one bad row must not hold the others: it is tried again when its claim lapses
            logger.exception("webhook delivery %s: the attempt failed", delivery_id)
    return tried

