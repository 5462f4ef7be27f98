"""The Metrics section of settings.py, in a module of its own (settings.py imports it at its end):
who may scrape `GET /metrics` (autoflow/metrics.py), how long its database reads may take
(inquiries/metrics.py), and django-prometheus' HTTP and database instrumentation. The variables
are in `.env.example`, section Metrics.

PROMETHEUS_MULTIPROC_DIR is read by prometheus_client itself, from the environment, when a process
first imports it: the start scripts (scripts/stack.py, scripts/web.py) create and clear it."""

import environ

from core.client_ip import proxy_networks

from .settings import DATABASES, MIDDLEWARE  # defined above the line that imports this module

_env = environ.Env()  # settings.py has already read `.env` into the environment

# A bearer token that may scrape from anywhere: `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = _env.str("METRICS_TOKEN", default="")
# The addresses that may scrape without it: TRUSTED_PROXIES as set in the environment (its default,
# loopback, does not count here). With neither this nor METRICS_TOKEN, loopback alone may scrape.
METRICS_TRUSTED_NETWORKS = proxy_networks(_env.list("TRUSTED_PROXIES", default=[]))
# Each database read of a scrape (queue depth, open escalations, e-mails...) is cut off after this.
METRICS_DB_TIMEOUT_MS = _env.int("METRICS_DB_TIMEOUT_MS", default=1000)

# django-prometheus: request counts and latencies by view (its two middlewares wrap all others),
# and queries, errors and connections through its PostgreSQL backend, a subclass of Django's that
# keeps DATABASES' OPTIONS (connect_timeout, server-side binding, statement_timeout, the pool).
PROMETHEUS_EXPORT_MIGRATIONS = False
if _env.bool("METRICS_DJANGO", default=True):
    # Right after the forwarded-headers guard, which stays first (tests/test_proxy_trust.py).
    MIDDLEWARE.insert(1, "django_prometheus.middleware.PrometheusBeforeMiddleware")
    MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
