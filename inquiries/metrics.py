"""The metrics read at scrape time, from PostgreSQL (and the workers' reports in Redis): queue
depth and the age of the oldest queued run, runs in flight per worker cluster, open escalations,
e-mails by status. `GET /metrics` (autoflow/metrics.py) asks `StateCollector` on every scrape.

Every source runs in its own transaction under `SET LOCAL statement_timeout =
METRICS_DB_TIMEOUT_MS`: a slow or locked database costs the scrape that many milliseconds per
source, never a hung worker. A source that fails (timeout, database down) is left out of that
scrape and `autoflow_metrics_source_up{source}` says 0, so alerts can tell "no data" from "zero".

To add a source (e.g. webhook deliveries by outcome), write a function that returns a list of
metric families and append it to SOURCES; nothing else changes.
"""

import logging
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min
from django.db.models.functions import Coalesce
from prometheus_client.core import GaugeMetricFamily, Metric

from . import selectors
from .models import OutboundEmail, Run, RunStatus, WebhookDelivery

logger = logging.getLogger(__name__)

Source = Callable[[], list[Metric]]


def queue() -> list[Metric]:
    depth = GaugeMetricFamily("autoflow_queue_depth", "Tasks waiting in the run queue for a free worker slot.")
    depth.add_metric([], selectors.queue_depth())
    # A queued run is running and held by no worker; its age counts from when it was (last) queued.
    oldest = (Run.objects.filter(status=RunStatus.RUNNING, lease_owner="")
              .aggregate(at=Min(Coalesce("queued_at", "created_at")))["at"])
    age = GaugeMetricFamily("autoflow_queue_oldest_age_seconds",
                            "Age of the oldest run waiting for a worker (0 when none waits).")
    age.add_metric([], max(time.time() - oldest.timestamp(), 0.0) if oldest else 0.0)
    return [depth, age]


def workers() -> list[Metric]:
    in_flight = GaugeMetricFamily("autoflow_runs_in_flight", "Runs a worker cluster is executing now.", labels=["cluster"])
    slots = GaugeMetricFamily("autoflow_worker_slots", "Runs a worker cluster can execute at once.", labels=["cluster"])
    for cluster in selectors.worker_clusters():  # the clusters' own reports, refreshed with every heartbeat
        in_flight.add_metric([cluster["name"]], cluster["in_flight"])
        slots.add_metric([cluster["name"]], cluster["slots"])
    return [in_flight, slots]


def escalations() -> list[Metric]:
    gauge = GaugeMetricFamily("autoflow_escalations_open", "Escalated runs not resolved yet (the operators' queue).")
    gauge.add_metric([], selectors.escalation_queue(queue="open").order_by().count())
    return [gauge]


def emails() -> list[Metric]:
    gauge = GaugeMetricFamily("autoflow_emails", "E-mails the system sends, by status.", labels=["status"])
    counts = dict(OutboundEmail.objects.order_by().values_list("status").annotate(n=Count("id")))
    for status in OutboundEmail.Status.values:
        gauge.add_metric([status], counts.get(status, 0))
    return [gauge]


def webhook_deliveries() -> list[Metric]:
    """Outbound webhook deliveries by outcome (docs/webhooks.md): pending, delivering, delivered,
    failed (retried later) and dead (given up)."""
    gauge = GaugeMetricFamily("autoflow_webhook_deliveries", "Outbound webhook deliveries, by outcome.",
                              labels=["status"])
    counts = dict(WebhookDelivery.objects.order_by().values_list("status").annotate(n=Count("id")))
    for status in WebhookDelivery.Status.values:
        gauge.add_metric([status], counts.get(status, 0))
    return [gauge]


# Read in this order on every scrape. Append further database-backed sources here.
SOURCES: list[Source] = [queue, workers, escalations, emails, webhook_deliveries]


def _read(source: Source) -> list[Metric]:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(settings.METRICS_DB_TIMEOUT_MS)}")
        return source()


class StateCollector:
    """A prometheus_client collector over SOURCES (registered per scrape, not globally)."""

    def __init__(self, sources: Iterable[Source] | None = None) -> None:
        self.sources = list(SOURCES if sources is None else sources)

    def collect(self):
        up = GaugeMetricFamily("autoflow_metrics_source_up", "1 when the source answered in this scrape.",
                               labels=["source"])
        for source in self.sources:
            try:
                families = _read(source)
            except Exception:  # noqa: BLE001 - one source down must not take the scrape with it
                logger.warning("metrics source %s failed", source.__name__, exc_info=True)
                up.add_metric([source.__name__], 0)
                continue
            up.add_metric([source.__name__], 1)
            yield from families
        yield up
