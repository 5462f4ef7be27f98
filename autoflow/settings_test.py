"""Test settings: the real PostgreSQL and Redis of the test run (DATABASE_URL, REDIS_URL are set by
`make test`), Django's locmem e-mail."""

import os

if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
    raise RuntimeError(
        "The tests need a real PostgreSQL and Redis. Run `make test`, or export DATABASE_URL and "
        "REDIS_URL (e.g. from `python -m scripts.services up`)."
    )

# Under pytest-xdist each test process has its own database (pytest-django names it) and its own
# Redis database, so that one process's FLUSHDB or rate-limit counters never reach another's.
# Only the path (the database number) changes: the password in the URL's netloc stays.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and not os.environ.get("AUTOFLOW_TEST_REDIS_SPLIT"):
    from urllib.parse import urlsplit, urlunsplit

    _url = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{int(_worker[2:]) + 1}"))
    os.environ["AUTOFLOW_TEST_REDIS_SPLIT"] = "1"  # subprocesses inherit the URL as it is now

from .settings import *  # noqa: E402,F403
from .settings import Q_CLUSTER  # noqa: E402

APP_ENV = "test"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Not sync: intake must really write the task row in its transaction (tests run the worker or the
# task function explicitly when they want execution).
Q_CLUSTER = {**Q_CLUSTER, "sync": False}
OLLAMA_BASE_URL = os.environ.get("OLLAMA_BASE_URL", "http://127.0.0.1:9")  # closed port: no Ollama
LOG_LEVEL = "WARNING"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
