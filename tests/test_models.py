"""The database itself keeps the contract's closed value sets and the audit log's promises."""

import importlib
from datetime import timedelta

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inquiries.events import run_event_record
from inquiries.models import (
    INTENT_FAMILY,
    Contact,
    IdempotencyRecord,
    Intent,
    KnowledgeArticle,
    OutboundEmail,
    Run,
    RunEvent,
    RunEventType,
)
from testutils.factories import make_inquiry, make_run, make_step

pytestmark = pytest.mark.django_db

DESIGN_INTENTS = {
    "general_inquiry": "faq", "faq": "faq",
    "sales": "sales", "pricing": "sales", "demo_request": "sales", "upgrade": "sales",
    "support": "support", "bug_report": "support", "complaint": "support", "billing_issue": "support",
}


def _rejected(**fields) -> bool:
    """True when the database refuses to store a run with these fields."""
    try:
        with transaction.atomic():
            make_run(**fields)
    except IntegrityError:
        return True
    return False


def test_intent_taxonomy_is_exactly_the_design_one():
    assert set(Intent.values) == set(DESIGN_INTENTS)
    assert {k: str(v) for k, v in INTENT_FAMILY.items()} == DESIGN_INTENTS


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "done"},
        {"intent": "smalltalk"},
        {"lead_tier": "lukewarm"},
        {"severity": "apocalyptic"},
        {"llm_backend": "openai"},
        {"intent_confidence": 1.5},
        {"intent_confidence": -0.1},
        {"lead_score": 101},
        # a terminal run always says when it finished
        {"status": "completed", "finished_at": None},
        # escalated status and the escalate flag never disagree
        {"status": "escalated", "escalate": False},
    ],
)
def test_run_constraints_reject_values_outside_the_contract(fields):
    assert _rejected(**fields)
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"intent": "pricing", "intent_confidence": 0.93, "lead_score": 80, "lead_tier": "hot"},
        {"status": "completed", "intent": "faq"},
        {"status": "escalated", "escalation_reason": "low_confidence"},
        {"status": "error", "error": "model unavailable", "llm_backend": "builtin"},
    ],
)
def test_run_constraints_accept_valid_runs(fields):
    assert not _rejected(**fields)
    assert Run.objects.count() == 1


def test_new_run_defaults_match_the_contract():
    run = make_run()
    assert run.status == "running"
    assert run.current_agent == "queued"
    assert run.intent == ""
    assert run.escalate is False
    assert run.attempts == 0
    assert run.created_at.tzinfo is not None
    assert run.run_id == run.pk


def test_a_step_key_is_recorded_once_per_run():
    run = make_run()
    make_step(run=run, sequence=1, node="classify_intent")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_step(run=run, sequence=2, node="classify_intent")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_step(run=run, sequence=1, node="faq_node")
    assert list(run.steps.values_list("node", flat=True)) == ["classify_intent"]


def test_the_same_step_key_is_fine_in_another_run():
    make_step(run=make_run(), sequence=1)
    make_step(run=make_run(), sequence=1)
    assert Run.objects.count() == 2


def test_idempotency_key_is_unique_per_caller_scope():
    run = make_run()
    expires = timezone.now() + timedelta(days=1)
    IdempotencyRecord.objects.create(caller="client:1", key="k-1", fingerprint="a" * 64, run=run, expires_at=expires)
    IdempotencyRecord.objects.create(caller="client:2", key="k-1", fingerprint="a" * 64, run=run, expires_at=expires)
    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotencyRecord.objects.create(caller="client:1", key="k-1", fingerprint="b" * 64, run=run,
                                         expires_at=expires)
    assert IdempotencyRecord.objects.filter(key="k-1").count() == 2


def test_at_most_one_reply_email_per_run():
    run = make_run()
    OutboundEmail.objects.create(run=run, to="a@example.com", subject="Re: hi", body="Hello")
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundEmail.objects.create(run=run, to="a@example.com", subject="Re: hi", body="Hello again")
    assert run.emails.count() == 1


def test_contact_email_is_stored_lower_case_only():
    Contact.objects.create(email="ada@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(email="Grace@Example.com")
    assert list(Contact.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_run_events_are_append_only():
    run = make_run()
    event = run_event_record(run=run, type=RunEventType.RECEIVED, message="received via API")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        RunEvent.objects.filter(pk=event.pk).update(message="nothing happened")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        RunEvent.objects.filter(pk=event.pk).update(type=RunEventType.COMPLETED)
    event.refresh_from_db()
    assert (event.type, event.message) == ("received", "received via API")


def test_deleting_the_acting_user_keeps_the_event_and_who_acted(django_user_model):
    user = django_user_model.objects.create_user(username="otto", password="x")
    run = make_run()
    event = run_event_record(run=run, type=RunEventType.NOTE, message="called the customer", actor=user)
    user.delete()
    event.refresh_from_db()
    assert event.actor is None
    assert event.actor_label == "user:otto"


def test_deleting_a_run_removes_its_steps_and_events():
    run = make_run()
    make_step(run=run, sequence=1)
    run_event_record(run=run, type=RunEventType.RECEIVED)
    run.delete()
    assert RunEvent.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inquiries_runstep")
        assert cursor.fetchone()[0] == 0


def test_event_type_constraint_rejects_unknown_types():
    run = make_run()
    with pytest.raises(IntegrityError), transaction.atomic():
        RunEvent.objects.create(run=run, type="teleported")
    assert run.events.count() == 0


def test_knowledge_base_full_text_search_matches_stemmed_words():
    KnowledgeArticle.objects.create(slug="refunds", title="Refund policy",
                                    body="Monthly plans are refunded within 14 days.")
    KnowledgeArticle.objects.create(slug="sso", title="Single sign-on", body="SAML and OIDC are supported.")
    hits = KnowledgeArticle.objects.filter(search_vector=SearchQuery("refunding", config="english"))
    assert list(hits.values_list("slug", flat=True)) == ["refunds"]


def test_search_vector_is_maintained_by_the_database_on_edit():
    article = KnowledgeArticle.objects.create(slug="trial", title="Trial", body="Fourteen days free.")
    article.body = "Thirty days of evaluation."
    article.save()
    assert KnowledgeArticle.objects.filter(search_vector=SearchQuery("evaluation", config="english")).exists()
    assert not KnowledgeArticle.objects.filter(search_vector=SearchQuery("fourteen", config="english")).exists()


def test_inquiry_source_is_a_closed_set():
    with pytest.raises(IntegrityError), transaction.atomic():
        make_inquiry(source="carrier_pigeon")


def test_database_timestamps_are_utc():
    with connection.cursor() as cursor:
        cursor.execute("SHOW TIME ZONE")
        assert cursor.fetchone()[0] == "UTC"


def test_migrations_match_the_models():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # exits non-zero on drift


def test_escalation_reasons_are_backfilled_from_the_text_of_older_runs():
    """Migration 0005 gives runs escalated before it their reasons, parsed from escalation_reason."""
    backfill = importlib.import_module("inquiries.migrations.0005_run_escalation_reasons").BACKFILL
    two = make_run(escalate=True, escalation_reason="low_confidence: confidence 0.41 < 0.60; high_severity: severity critical")
    bare = make_run(escalate=True, escalation_reason="kb_no_answer")
    none = make_run()
    Run.objects.filter(pk__in=[two.pk, bare.pk, none.pk]).update(escalation_reasons=[])
    with connection.cursor() as cursor:
        cursor.execute(backfill)
    reasons = dict(Run.objects.filter(pk__in=[two.pk, bare.pk, none.pk]).values_list("pk", "escalation_reasons"))
    assert reasons[two.pk] == [{"rule": "low_confidence", "detail": "confidence 0.41 < 0.60"},
                               {"rule": "high_severity", "detail": "severity critical"}]
    assert reasons[bare.pk] == [{"rule": "kb_no_answer", "detail": ""}]
    assert reasons[none.pk] == []
