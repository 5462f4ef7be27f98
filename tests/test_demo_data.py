import io
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from inquiries.demo_data import KNOWLEDGE_BASE
from inquiries.models import KnowledgeArticle

pytestmark = pytest.mark.django_db


def _sign_in(password: str):
    """authenticate() as the sign-in views call it: with the request (django-axes needs it)."""
    return authenticate(RequestFactory().post("/console/login/"), username="operator", password=password)


def _load() -> str:
    out = io.StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


def test_demo_data_loads_once_and_the_password_is_random_and_shown_once():
    first = _load()
    password = re.search(r"with password: (\S+)", first).group(1)
    assert len(password) >= 16
    assert _sign_in(password) is not None
    user = get_user_model().objects.get(username="operator")
    assert user.is_staff
    assert not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["operators"]
    assert KnowledgeArticle.objects.count() == len(KNOWLEDGE_BASE)

    second = _load()
    assert "password:" not in second
    assert _sign_in(password) is not None
    assert KnowledgeArticle.objects.count() == len(KNOWLEDGE_BASE)


def test_two_fresh_installs_get_different_passwords():
    first = re.search(r"with password: (\S+)", _load()).group(1)
    get_user_model().objects.all().delete()
    second = re.search(r"with password: (\S+)", _load()).group(1)
    assert first != second


def test_the_seed_topics_are_in_the_knowledge_base():
    _load()
    for topic in ("pricing", "trial", "refund", "SLA", "security", "integrations", "API", "export",
                  "cancel", "support"):
        assert KnowledgeArticle.objects.filter(title__icontains=topic).exists() or \
            KnowledgeArticle.objects.filter(keywords__icontains=topic.lower()).exists(), topic
