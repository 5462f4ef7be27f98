import os
import shutil
import tempfile

import pytest
from django.contrib.auth.models import Group

from inquiries.roles import AUDITORS, OPERATORS, ensure_role_groups
from scripts import pids

# The files that take longest (minutes of real servers, leases and faults), started first: the two
# test processes of `make test` take files as they free up, so a long file started last would be
# the whole run's tail (longest-first scheduling). Measured with --durations (docs/benchmarks.md).
LONGEST_FIRST = ("test_chaos.py", "test_runner.py", "test_make_run.py", "test_abuse.py", "test_worker.py",
                 "test_browser.py", "test_oidc_browser.py", "test_metrics.py", "test_workflow_ollama.py",
                 "test_limits_live.py", "test_tracing.py", "test_tls_proxy.py")


def pytest_configure(config) -> None:
    """Once per run, in the process that leads it (before xdist starts its workers, which inherit
    the variable): the migrated PostgreSQL cluster that every LiveStack copies."""
    from testutils.live import PG_TEMPLATE_ENV, make_pg_template

    if hasattr(config, "workerinput") or os.environ.get(PG_TEMPLATE_ENV):
        return
    config._autoflow_pg_template = make_pg_template()
    os.environ[PG_TEMPLATE_ENV] = str(config._autoflow_pg_template / "postgres")


def pytest_unconfigure(config) -> None:
    made = getattr(config, "_autoflow_pg_template", None)
    if made is not None:
        from testutils.live import PG_TEMPLATE_ENV

        os.environ.pop(PG_TEMPLATE_ENV, None)
        shutil.rmtree(made, ignore_errors=True)


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session", autouse=True)
def _no_process_outlives_the_session():
    """Fails the session when a process the tests started is still running at its end, then ends it.

    Set up before, so torn down after, every fixture that starts processes. What starts a process
    through scripts.pids.spawn (the web tier, workers, Redis, the fake Ollama, `make run` and
    whatever it starts in turn) registers it, with its start time, in the file that
    AUTOFLOW_PID_REGISTRY names; PostgreSQL is registered by PostgresServer.start. At the end,
    whatever is alive of them, of the process groups they lead and of their descendants fails
    the session, and so does any process started with this registry in its environment.
    (`make test`'s own servers are started before pytest, so they are not in it.)"""
    fd, path = tempfile.mkstemp(prefix="autoflow-pids-", suffix=".txt")
    os.close(fd)
    previous = os.environ.get(pids.REGISTRY_ENV)
    os.environ[pids.REGISTRY_ENV] = path
    try:
        yield
        left = pids.survivors(path)
        if left:
            report = "\n".join(f"  pid {proc.pid} ({proc.label}): {proc.cmdline()[:200]}" for proc in left)
            pids.end(left, timeout=10)
            pytest.fail(f"{len(left)} processes started by the tests were still running when the session "
                        f"ended (now ended):\n{report}", pytrace=False)
    finally:
        if previous is None:
            os.environ.pop(pids.REGISTRY_ENV, None)
        else:
            os.environ[pids.REGISTRY_ENV] = previous
        os.unlink(path)


def _user_in(django_user_model, username: str, group: str | None, *, is_staff: bool = True):
    ensure_role_groups()
    user = django_user_model.objects.create_user(username=username, password="pw-for-tests-only", is_staff=is_staff)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def operator(django_user_model):
    return _user_in(django_user_model, "olivia", OPERATORS)


@pytest.fixture
def auditor(django_user_model):
    return _user_in(django_user_model, "arthur", AUDITORS)


@pytest.fixture
def outsider(django_user_model):
    """Signed in, but neither operator nor auditor."""
    return _user_in(django_user_model, "nobody", None, is_staff=False)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def auditor_client(client, auditor):
    client.force_login(auditor)
    return client


@pytest.fixture(scope="session", autouse=True)
def _close_checkpointer_pool(django_db_setup):
    """The checkpointer keeps its own connections: close them before the test database is dropped."""
    yield
    from orchestration import tasks
    from orchestration.checkpointer import close_checkpointer

    tasks._graph.cache_clear()
    close_checkpointer()


@pytest.fixture(scope="session")
def live():
    """One live AutoFlow for the API contract tests (see testutils/live.py)."""
    from testutils.live import live_stack

    with live_stack() as stack:
        yield stack


@pytest.fixture
def keys(settings):
    """The bootstrap and admin keys of testutils/security.py are configured (auth is required)."""
    from inquiries.api.v1.auth import forget_cached_clients
    from testutils.security import ADMIN_KEY, WEBHOOK_KEY

    settings.WEBHOOK_API_KEY = WEBHOOK_KEY
    settings.AUTOFLOW_ADMIN_API_KEY = ADMIN_KEY
    forget_cached_clients()
    yield
    forget_cached_clients()


@pytest.fixture
def secret_run(db):
    """An escalated run full of someone's personal data (testutils/security.py's PII)."""
    from testutils.factories import make_inquiry, make_run, make_step
    from testutils.security import PII

    run = make_run(inquiry=make_inquiry(**PII), status="escalated", intent="support",
                   escalation_reason="high_severity: severity high", draft_response="Hi Priya",
                   handoff_summary="Who: Priya Confidential")
    make_step(run=run, sequence=1)
    return run


@pytest.fixture(autouse=True)
def _forget_api_clients():
    """Each test starts with no API client known to the process (auth.auth_required caches it)."""
    yield
    from inquiries.api.v1.auth import forget_cached_clients

    forget_cached_clients()


@pytest.fixture
def receiver(settings):
    """A webhook receiver on loopback (testutils/webhook_receiver.py), which the SSRF guard admits
    here, and whose failures never open an endpoint's circuit unless a test lowers the bound."""
    from testutils.webhook_receiver import WebhookReceiver

    settings.OUTBOUND_WEBHOOK_ALLOW_PRIVATE = True
    settings.OUTBOUND_WEBHOOK_CIRCUIT_FAILURES = 100
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def client_and_sub(receiver):
    """An API client subscribed to the receiver for the run's end events."""
    import uuid

    from inquiries import services

    client, _key = services.api_client_create(name=f"crm-{uuid.uuid4().hex[:6]}")
    sub = services.webhook_subscription_create(client=client, url=receiver.url,
                                               events=["run.completed", "run.escalated", "run.error"])
    return client, sub
