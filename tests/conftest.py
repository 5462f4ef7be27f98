import pytest
from django.contrib.auth.models import Group

from inquiries.roles import AUDITORS, OPERATORS, ensure_role_groups


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
    """One live AutoFlow for the API contract tests (see tests/live.py)."""
    from tests.live import live_stack

    with live_stack() as stack:
        yield stack
