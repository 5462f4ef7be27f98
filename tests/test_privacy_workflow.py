"""Erasure and retention over runs the real workflow wrote (the built-in engine, real
PostgreSQL checkpoints, the Redis hot plane, django-q2's queue): nothing of the person is left
in any table or Redis key, and a purge takes the checkpoints with the runs."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.redis_client import get_redis
from inquiries import services
from inquiries.models import AuditAction, AuditEntry, Contact, Run
from testutils.privacy import checkpoint_rows, database_mentions, redis_mentions
from testutils.workflow import accept, execute, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)

WILMA = {"sender_name": "Wilma Wipeout", "sender_email": "wilma.wipeout@erase.example"}
OTHER = {"sender_name": "Bruno Bystander", "sender_email": "bruno@keep.example"}


@pytest.fixture(autouse=True)
def _builtin(settings):
    settings.LLM_BACKEND = "builtin"
    get_redis().flushdb()
    load_knowledge_base()


def _runs() -> list[Run]:
    runs = [accept(subject="Buying for our team, Wilma Wipeout here",
                   body="We want AutoFlow for 120 agents, budget $50,000. Call Wilma Wipeout at "
                        "wilma.wipeout@erase.example.", **WILMA),
            accept(subject="Free trial", body="Is there a free trial? Thanks, Wilma Wipeout", **WILMA),
            accept(subject="Refund now", body="I am furious, refund me or I call my lawyer. Wilma Wipeout", **WILMA),
            accept(subject="Free trial", body="How long is the free trial? Bruno Bystander", **OTHER)]
    for run in runs:
        execute(run)
    return runs


def test_erasing_a_person_after_real_runs_leaves_nothing_anywhere():
    *wilmas, bruno = _runs()
    assert checkpoint_rows(wilmas[0]) > 0
    for needle in ("wilma.wipeout@erase.example", "Wilma Wipeout", "Wipeout"):
        assert database_mentions(needle), needle
    assert redis_mentions("Wilma Wipeout")

    counts = services.contact_erase(email="wilma.wipeout@erase.example", actor_label="tests")

    assert counts["runs"] == 3
    for needle in ("wilma.wipeout@erase.example", "Wilma Wipeout", "Wipeout"):
        assert database_mentions(needle) == [], needle
        assert redis_mentions(needle) == [], needle
    assert all(checkpoint_rows(run) == 0 for run in wilmas)
    statuses = {run.pk: run.status for run in wilmas}
    assert {run.pk: run.status for run in Run.objects.filter(pk__in=statuses)} == statuses
    assert database_mentions("Bruno Bystander")
    assert checkpoint_rows(bruno) > 0
    assert Contact.objects.filter(email="bruno@keep.example").exists()
    [entry] = AuditEntry.objects.filter(action=AuditAction.CONTACT_ERASED)
    assert "wilma" not in json.dumps(entry.detail).lower()


def test_the_purge_takes_real_runs_with_their_checkpoints_and_keys():
    *wilmas, bruno = _runs()
    Run.objects.filter(pk__in=[run.pk for run in wilmas]).update(finished_at=timezone.now() - timedelta(days=400))

    counts = services.runs_purge_expired(days=365)

    assert (counts["runs"], counts["inquiries"], counts["contacts"], counts["checkpoint_threads"]) == (3, 3, 1, 3)
    for needle in ("wilma.wipeout@erase.example", "Wipeout"):
        assert database_mentions(needle) == [], needle
        assert redis_mentions(needle) == [], needle
    assert list(Run.objects.values_list("pk", flat=True)) == [bruno.pk]
    assert checkpoint_rows(bruno) > 0


def test_deleting_a_run_takes_its_lead_score_checkpoints_and_last_contact_with_it():
    """The API's, the console's and the admin's delete (services.run_delete) leave nothing of the
    run behind: before, its checkpoints, its lead score and the contact stayed."""
    sales = accept(subject="Buying for our team", body="We want AutoFlow for 120 agents, budget $50,000.", **WILMA)
    other = accept(subject="Free trial", body="How long is the free trial?", **OTHER)
    for run in (sales, other):
        execute(run)
    assert checkpoint_rows(sales) > 0
    contact = Contact.objects.get(email=WILMA["sender_email"])
    assert contact.lead_scores.filter(run_id=sales.pk).exists()

    assert services.run_delete(run_id=sales.pk, actor_label="tests") is True

    assert checkpoint_rows(sales) == 0
    assert not Contact.objects.filter(pk=contact.pk).exists()  # its only inquiry is gone: so is it
    assert checkpoint_rows(other) > 0  # nobody else's
    assert Contact.objects.filter(email=OTHER["sender_email"]).exists()

