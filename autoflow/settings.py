"""AutoFlow settings, read from the environment (a `.env` file in the checkout is optional).

Every variable is listed, one line each and in the same sections, in `.env.example`. Sections:
environment, Django, database, cache and Redis, channels, queue and runner, model, intake, policy,
e-mail, security, logging. `APP_ENV=production` switches on Django's deploy hardening and the
`autoflow.E00x` system checks that refuse a configuration without the secrets and allowlists the
public contract requires (see `autoflow/checks.py` and `docs/api.md`).
"""

import os
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as default_cors_headers

# --- Environment --------------------------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env", overwrite=False)

# LangGraph checkpoints may load only the types of our state (CVE-2026-28277). LangGraph reads
# this once, when first imported; settings load before any app module imports it.
os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")

APP_ENV = env.str("APP_ENV", default="development")
PRODUCTION = APP_ENV == "production"

# --- Django: apps, requests, templates, static files -------------------------------------------
DEVELOPMENT_SECRET_KEY = "django-insecure-autoflow-development-only"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "csp",
    # The API docs page serves django-ninja's bundled Swagger UI from our static files (no CDN).
    "ninja",
    "corsheaders",
    "channels",
    "django_q",
    "django_htmx",
    "template_partials",
    "autoflow",
    "inquiries",
    "orchestration",
    "dashboard",
]

MIDDLEWARE = [
    "core.middleware.ForwardedHeadersMiddleware",  # before anything reads X-Forwarded-* (Security below)
    "core.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.csp.CSPMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: it turns a sign-in refused by django-axes into the lock-out page (dashboard/signin.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "autoflow.urls"
ASGI_APPLICATION = "autoflow.asgi.application"
WSGI_APPLICATION = "autoflow.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["autoflow.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic's target, used in production; development serves from the source folders.
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles") if PRODUCTION else "") or None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production the app serves static files straight from the source folders.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- PostgreSQL: the truth --------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default="postgres://autoflow:autoflow@127.0.0.1:5432/autoflow"
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
# Fail fast when the database is gone: a health probe or a webhook must not hang for minutes.
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3))
# Server-side parameters let psycopg prepare the statements a process repeats (intake's INSERTs),
# so PostgreSQL stops parsing and planning them on every request (docs/benchmarks.md).
DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", env.bool("DB_SERVER_SIDE_BINDING", default=True))
# No statement (a request's query, a worker's write) may run longer than this; lock waits count.
# A migration that backfills a very large table may need DB_STATEMENT_TIMEOUT_MS=0 for its run.
DB_STATEMENT_TIMEOUT_MS = env.int("DB_STATEMENT_TIMEOUT_MS", default=15_000)
if DB_STATEMENT_TIMEOUT_MS:
    DATABASES["default"]["OPTIONS"].setdefault("options", f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS}")
# Under ASGI Django's persistent connections must be off; the web server uses psycopg's pool
# instead (autoflow/asgi.py sets DB_POOL). Sync processes (worker, commands) keep connections.
if env.bool("DB_POOL", default=False):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DB_POOL_TIMEOUT", default=5.0),
        # Django adds check=ConnectionPool.check_connection: a restarted PostgreSQL costs no errors.
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the hot plane (snapshots, step streams, counters, channel layer) -----------------
# With its password when it has one: redis://:PASSWORD@HOST:PORT/DB (`make run`'s own Redis has one).
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "autoflow:cache",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            # Redis down costs speed, not availability: cache misses instead of exceptions.
            "IGNORE_EXCEPTIONS": True,
            # JSON, not pickle: a pickle planted in Redis must not run code in our processes. What
            # goes through this cache is JSON already: django-ratelimit's counters (raw integers)
            # and django-q2's statistics (signed strings); our hot plane does not use it.
            "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
        },
    }
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "autoflow.redis"
RUN_SNAPSHOT_TTL_SECONDS = env.int("RUN_SNAPSHOT_TTL_SECONDS", default=86400)

# --- Channels: live events for the console and the WebSocket API ------------------------------
CHANNEL_LAYERS = {
    "default": {
        # Redis pub/sub: a group message is one PUBLISH, so the worker sends a run's live event in
        # the same Redis round trip as its snapshot (inquiries/hotstate.py), and groups never expire.
        # Live events are hints (pages re-read state on (re)connect): pub/sub's at-most-once is enough.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 3}]},
    }
}
WEBSOCKET_HEARTBEAT_SECONDS = env.int("WEBSOCKET_HEARTBEAT_SECONDS", default=20)
# A socket is closed (code 4012, "reconnect") after this long; clients reconnect and re-read.
# Each heartbeat re-joins the socket's groups, so no layer's group expiry can silence it.
WEBSOCKET_MAX_LIFETIME_SECONDS = env.int("WEBSOCKET_MAX_LIFETIME_SECONDS", default=3600)

# --- Queue and runner: django-q2's durable queue, AutoFlow's `manage.py runcluster` ------------
# The django-q2 task that executes a run (a dotted path: inquiries never imports orchestration).
AUTOFLOW_RUN_TASK = "orchestration.tasks.run_execute"
RUN_MAX_ATTEMPTS = env.int("RUN_MAX_ATTEMPTS", default=3)
# The runner (orchestration/runner/): each worker process holds up to RUN_CONCURRENCY runs at once
# while they wait on the model. A run's lease is renewed by its worker's heartbeat (every sixth of
# RUN_LEASE_SECONDS); a worker that dies, hangs or loses the database has its runs taken up by
# another within RUN_LEASE_SECONDS of its last heartbeat.
RUN_CONCURRENCY = env.int("RUN_CONCURRENCY", default=16)
RUN_LEASE_SECONDS = env.int("RUN_LEASE_SECONDS", default=30)
# The longest one attempt of a run may take: past it its worker stops renewing the lease (each
# model call has its own, shorter deadline).
RUN_TIMEOUT_SECONDS = env.int("RUN_TIMEOUT_SECONDS", default=300)
# Workers wake on PostgreSQL NOTIFY when a run is queued; this poll is the fallback.
RUN_POLL_SECONDS = env.float("RUN_POLL_SECONDS", default=1.0)
# Worker processes run at this lower CPU priority (nice), so that intake keeps its latency.
RUN_WORKER_NICE = env.int("RUN_WORKER_NICE", default=10)
# Whether each worker commit waits for its WAL flush (see orchestration/runner/worker.py): the
# reply e-mail's guard row always does; intake always does.
RUN_SYNCHRONOUS_COMMIT = env.bool("RUN_SYNCHRONOUS_COMMIT", default=False)
# The machine's name in lease owners and worker reports (default: the host name).
AUTOFLOW_HOSTNAME = env.str("AUTOFLOW_HOSTNAME", default="")
RUN_QUEUE_STALE_SECONDS = env.int("RUN_QUEUE_STALE_SECONDS", default=900)
CHECKPOINT_RETENTION_DAYS = env.int("CHECKPOINT_RETENTION_DAYS", default=7)
RETENTION_DAYS = env.int("RETENTION_DAYS", default=365)  # runs finished longer ago are purged; 0 keeps all
# LangGraph durability: "sync" hands each checkpoint over before the next node starts; the
# runner writes it in the same round trip as that node's step (orchestration/checkpointer.py).
LANGGRAPH_DURABILITY = env.str("LANGGRAPH_DURABILITY", default="sync")
# Settings of the first runner that no longer mean anything; a system check names them.
RETIRED_SETTINGS = {
    "RUN_LEASE_SLACK_SECONDS": "leases are now RUN_LEASE_SECONDS, renewed by a heartbeat",
}

# django-q2 is the durable queue (ORM broker: an enqueue commits with the run) and the scheduler;
# its tasks are executed by AutoFlow's own cluster, `manage.py runcluster` (orchestration/runner/).
Q_CLUSTER = {
    "name": "autoflow",
    "orm": "default",
    # Worker processes of `runcluster`, each holding up to RUN_CONCURRENCY runs.
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": RUN_TIMEOUT_SECONDS,
    # django-q2's own `qcluster`, if someone runs it, must not hand out a task a live worker holds.
    "retry": RUN_TIMEOUT_SECONDS + RUN_LEASE_SECONDS,
    "max_attempts": RUN_MAX_ATTEMPTS,
    "ack_failures": True,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Task queue",
}

# --- Model: Ollama, or the built-in engine --------------------------------------------------------
OLLAMA_BASE_URL = env.str("OLLAMA_BASE_URL", default="http://127.0.0.1:11434").rstrip("/")
LLM_MODEL = env.str("LLM_MODEL", default="llama3")
LLM_BACKEND = env.str("LLM_BACKEND", default="auto")
OLLAMA_PROBE_TIMEOUT = env.float("OLLAMA_PROBE_TIMEOUT", default=1.0)
# Model calls: a cold load sends no byte until the model is in memory, so the first-byte wait is
# long; each call has its own deadline, each run a budget (docs/reliability.md).
OLLAMA_CONNECT_TIMEOUT = env.float("OLLAMA_CONNECT_TIMEOUT", default=3.0)
OLLAMA_FIRST_BYTE_TIMEOUT = env.float("OLLAMA_FIRST_BYTE_TIMEOUT", default=120.0)
OLLAMA_CALL_TIMEOUT = env.float("OLLAMA_CALL_TIMEOUT", default=150.0)
LLM_RUN_BUDGET_SECONDS = env.float("LLM_RUN_BUDGET_SECONDS", default=240.0)
# CPU seconds one workflow node may spend (the built-in engine checks between its steps); a node
# over it hands the run to an operator instead of holding the worker (orchestration/cpu_guard.py).
NODE_CPU_BUDGET_SECONDS = env.float("NODE_CPU_BUDGET_SECONDS", default=2.0)
OLLAMA_MAX_RETRIES = env.int("OLLAMA_MAX_RETRIES", default=2)
OLLAMA_RETRY_INITIAL_SECONDS = env.float("OLLAMA_RETRY_INITIAL_SECONDS", default=0.5)
OLLAMA_BREAKER_FAILURES = env.int("OLLAMA_BREAKER_FAILURES", default=3)
OLLAMA_BREAKER_RESET_SECONDS = env.float("OLLAMA_BREAKER_RESET_SECONDS", default=30.0)
OLLAMA_NUM_CTX = env.int("OLLAMA_NUM_CTX", default=4096)  # one value always: a change reloads the model
OLLAMA_NUM_PREDICT = env.int("OLLAMA_NUM_PREDICT", default=512)
OLLAMA_KEEP_ALIVE = env.str("OLLAMA_KEEP_ALIVE", default="30m")
MODEL_VERSION = env.str("MODEL_VERSION", default="")
WORKFLOW_VERSION = env.str("WORKFLOW_VERSION", default="1.0.0")

# --- Intake: the webhook's keys, limits and idempotency (docs/api.md) ----------------------------
WEBHOOK_API_KEY = env.str("WEBHOOK_API_KEY", default="")
AUTOFLOW_ADMIN_API_KEY = env.str("AUTOFLOW_ADMIN_API_KEY", default="")
WEBHOOK_SIGNING_SECRET = env.str("WEBHOOK_SIGNING_SECRET", default="")
WEBHOOK_RATE_LIMIT = env.str("WEBHOOK_RATE_LIMIT", default="60/m")
# Reads (status, steps, lists) per caller: the key, the staff user, or the address when open.
READ_RATE_LIMIT = env.str("READ_RATE_LIMIT", default="600/m")
# GET /api/v1/runs counts exactly up to this many rows, then gives PostgreSQL's estimate.
RUN_LIST_EXACT_COUNT_UP_TO = env.int("RUN_LIST_EXACT_COUNT_UP_TO", default=10_000)
# The webhook answer's `stream_token`: how long it opens its run's WebSocket.
STREAM_TOKEN_TTL_SECONDS = env.int("STREAM_TOKEN_TTL_SECONDS", default=3600)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=64 * 1024)
# Rate-limit counters live in Redis; when it is down, intake stays open (docs/api.md).
RATELIMIT_FAIL_OPEN = True
RATELIMIT_USE_CACHE = "default"
IDEMPOTENCY_TTL_SECONDS = env.int("IDEMPOTENCY_TTL_SECONDS", default=86400)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WEBHOOK_MAX_BODY_BYTES, 2_621_440)

# --- Policy: when a human must see a run, how a lead is scored (orchestration/policy.py) ---------
# Confidence bands of a classification: low under ESCALATION_CONFIDENCE_THRESHOLD (a human decides),
# high from CONFIDENCE_BAND_HIGH, medium between (docs/workflow.md, "Confidence bands").
ESCALATION_CONFIDENCE_THRESHOLD = env.float("ESCALATION_CONFIDENCE_THRESHOLD", default=0.6)
CONFIDENCE_BAND_HIGH = env.float("CONFIDENCE_BAND_HIGH", default=0.9)
# A very negative support inquiry goes to a human (rule negative_sentiment).
NEGATIVE_SENTIMENT_ESCALATES = env.bool("NEGATIVE_SENTIMENT_ESCALATES", default=True)
# A sender's open escalations in the queue; beyond, new ones join the oldest (a flood reaches no human).
ESCALATIONS_PER_SENDER_OPEN = env.int("ESCALATIONS_PER_SENDER_OPEN", default=5)
# Lead tiers from the score (orchestration/policy.py): hot >= LEAD_HOT_SCORE, warm >= LEAD_WARM_SCORE.
LEAD_HOT_SCORE = env.int("LEAD_HOT_SCORE", default=60)
LEAD_WARM_SCORE = env.int("LEAD_WARM_SCORE", default=30)
# The FAQ agent answers only from an article that matches at least this well: the idf-weighted
# share of the question's terms the article contains, in [0, 1] (inquiries/kb_search.py; it was
# ts_rank, default 0.2). 0.35 from bench/retrieval.py (docs/benchmarks.md, "Knowledge-base retrieval").
KB_MIN_RANK = env.float("KB_MIN_RANK", default=0.35)
COMPANY_NAME = env.str("COMPANY_NAME", default="AutoFlow")
# What an automatic reply may name besides the knowledge base (orchestration/reply_safety.py).
COMPANY_WEBSITE = env.str("COMPANY_WEBSITE", default="")
COMPANY_SUPPORT_EMAIL = env.str("COMPANY_SUPPORT_EMAIL", default="")
COMPANY_PHONE = env.str("COMPANY_PHONE", default="")

# --- E-mail (Django's backends: console in development, SMTP in production, locmem in tests) ---
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AutoFlow <autoflow@localhost>")
# SMTP timeout (s), retries with backoff, automatic-reply throttles: docs/reliability.md "Reply policy".
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=5)
EMAIL_RETRY_BASE_SECONDS = env.float("EMAIL_RETRY_BASE_SECONDS", default=30.0)
AUTO_REPLY_PER_RECIPIENT = env.int("AUTO_REPLY_PER_RECIPIENT", default=3)
AUTO_REPLY_PER_CLIENT_HOUR = env.int("AUTO_REPLY_PER_CLIENT_HOUR", default=100)

# --- Security: sessions, sign-in, CORS, proxies, deploy hardening -------------------------------
from core.client_ip import proxy_networks  # noqa: E402

SESSION_ENGINE = "django.contrib.sessions.backends.db"
# django-axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "dashboard:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Proxies (addresses or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto count, parsed into
# networks; loopback is always trusted in addition: our own nginx connects from there (see
# core/client_ip.py). The web tier's nginx reads the same variable (scripts/web.py).
TRUSTED_PROXIES = proxy_networks(env.list("TRUSTED_PROXIES", default=["127.0.0.1/32", "::1/128"]))
# 1: the web tier may serve beyond loopback without WEBHOOK_API_KEY and AUTOFLOW_ADMIN_API_KEY
# (scripts/web.py refuses to otherwise); /health then says `"exposure": "open"`.
AUTOFLOW_ALLOW_OPEN = env.bool("AUTOFLOW_ALLOW_OPEN", default=False)
CORS_ORIGINS = env.list("CORS_ORIGINS", default=[] if PRODUCTION else ["*"])
CORS_ALLOW_ALL_ORIGINS = CORS_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else CORS_ORIGINS
CORS_URLS_REGEX = r"^/(api/|health).*$"
CORS_ALLOW_HEADERS = (
    *default_cors_headers,
    "x-api-key", "x-admin-key", "idempotency-key", "x-request-id",
    "webhook-id", "webhook-timestamp", "webhook-signature",
    "traceparent", "tracestate",  # a browser caller's OpenTelemetry continues into the run
)
CORS_EXPOSE_HEADERS = [
    "X-Request-ID", "X-Total-Count", "X-Total-Count-Estimated", "X-Next-Cursor", "Link", "Retry-After",
    "Idempotent-Replayed",
    "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
]
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^health"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
# Sign-in throttling (django-axes) and the Content-Security-Policy (django-csp) are the end of
# this section, in autoflow/settings_security.py (imported below).

# --- Topic sections, each in a module of its own -------------------------------------------------
# logging (LOG_LEVEL, LOG_FORMAT, LOG_REDACT_PII, LOGGING); metrics (GET /metrics, django-prometheus);
# single sign-on (OIDC_*, read by dashboard/oidc.py); security (django-axes, django-csp); triage
# (language, reply languages, entities, sentiment: orchestration/analysis/); outbound webhooks
# (OUTBOUND_WEBHOOK_*, docs/webhooks.md).
from .settings_logging import *  # noqa: E402,F403
from .settings_metrics import *  # noqa: E402,F403
from .settings_oidc import *  # noqa: E402,F403
from .settings_security import *  # noqa: E402,F403
from .settings_triage import *  # noqa: E402,F403
from .settings_webhooks import *  # noqa: E402,F403
