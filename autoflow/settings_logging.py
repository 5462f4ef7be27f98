"""The Logging section of settings.py, in a module of its own (settings.py imports it at its
end): one line per event, UTC, the request id on every line, JSON in production. The variables
are in `.env.example`, section Logging."""

import environ

_env = environ.Env()  # settings.py has already read `.env` into the environment
PRODUCTION = _env.str("APP_ENV", default="development") == "production"

LOG_LEVEL = _env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = _env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
# Replace e-mail addresses and phone numbers in log lines with [email] / [phone] (on in production).
LOG_REDACT_PII = _env.bool("LOG_REDACT_PII", default=PRODUCTION)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logging.RequestIDFilter"},
        "redact_pii": {"()": "core.logging.RedactPIIFilter"},
    },
    "formatters": {
        "text": {
            "()": "core.logging.UTCFormatter",
            "format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {
            "()": "core.logging.JSONFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact_pii"] if LOG_REDACT_PII else ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django_q": {"level": LOG_LEVEL, "propagate": True},
        # django-axes announces its configuration at INFO in every process; lock-outs are WARNING.
        "axes": {"level": "WARNING"},
    },
}
