"""A Redis snapshot is served only while PostgreSQL agrees with it: when the Redis write after a
commit was lost, a read rebuilds the snapshot from PostgreSQL (and writes it back), and a run
PostgreSQL no longer has is a 404 whose Redis keys are removed (inquiries/selectors.py)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.redis_client import get_redis
from core.timestamps import utc_iso
from inquiries import hotstate, selectors
from inquiries.hotstate import run_key, steps_key
from inquiries.models import Run
from inquiries.payloads import run_status_payload
from testutils.factories import make_inquiry, make_run, make_step
from testutils.workflow import accept, execute, load_knowledge_base

PII = {"sender_name": "Stale Sam", "sender_email": "stale.sam@leak.example", "subject": "Stale subject"}


def _snapshot(run_id) -> dict | None:
    raw = get_redis().get(run_key(run_id))
    return json.loads(raw) if raw else None


@pytest.fixture
def cached_run():
    """A running run with one step, its snapshot in Redis as its last commit left it."""
    run = make_run(inquiry=make_inquiry(**PII), current_agent="classify_intent")
    make_step(run=run, sequence=1)
    run.refresh_from_db()
    assert hotstate.snapshot_write(run_status_payload(run))
    return run


@pytest.mark.django_db
def test_a_snapshot_postgresql_agrees_with_is_served_from_redis_after_one_lookup(cached_run, django_assert_num_queries):
    marked = {**_snapshot(cached_run.pk), "current_agent": "served-from-redis"}
    get_redis().set(run_key(cached_run.pk), json.dumps(marked))
    with django_assert_num_queries(1):  # the primary-key lookup of updated_at, nothing else
        status = selectors.run_status(run_id=cached_run.pk)
    assert status["current_agent"] == "served-from-redis"
    assert [s["sequence"] for s in selectors.run_steps(run_id=cached_run.pk)] == [1]


@pytest.mark.django_db
def test_a_snapshot_whose_redis_write_was_lost_is_rebuilt_from_postgresql_and_written_back(cached_run):
    later = timezone.now() + timedelta(seconds=1)
    make_step(run=cached_run, sequence=2, node="faq_node")
    # The run changed in PostgreSQL only: the Redis write after that commit was lost.
    Run.objects.filter(pk=cached_run.pk).update(status="completed", current_agent="done", final_response="Done.",
                                                finished_at=later, updated_at=later)
    assert _snapshot(cached_run.pk)["status"] == "running"

    status = selectors.run_status(run_id=cached_run.pk)
    assert (status["status"], status["final_response"], status["updated_at"]) == ("completed", "Done.", utc_iso(later))
    assert [s["node"] for s in status["agent_steps"]] == ["classify_intent", "faq_node"]
    rewritten = _snapshot(cached_run.pk)
    assert rewritten == status
    assert [json.loads(s)["node"] for s in get_redis().lrange(steps_key(cached_run.pk), 0, -1)] == [
        "classify_intent", "faq_node"]


@pytest.mark.django_db
def test_the_steps_of_a_stale_snapshot_are_rebuilt_too(cached_run):
    make_step(run=cached_run, sequence=2, node="faq_node")
    Run.objects.filter(pk=cached_run.pk).update(updated_at=timezone.now() + timedelta(seconds=1))
    assert [s["node"] for s in selectors.run_steps(run_id=cached_run.pk)] == ["classify_intent", "faq_node"]
    assert [s["node"] for s in _snapshot(cached_run.pk)["agent_steps"]] == ["classify_intent", "faq_node"]


@pytest.mark.django_db
def test_a_run_deleted_behind_the_services_back_is_404_and_forgotten_in_redis(cached_run, admin_client):
    run_id = cached_run.pk
    Run.objects.filter(pk=run_id).delete()  # bypassing services.run_delete: Redis is not told
    assert get_redis().exists(run_key(run_id), steps_key(run_id)) == 2

    for path in (f"/api/v1/status/{run_id}", f"/api/v1/status/{run_id}/steps"):
        response = admin_client.get(path)
        assert response.status_code == 404
        assert not any(value in response.content.decode() for value in PII.values())
    assert get_redis().exists(run_key(run_id), steps_key(run_id)) == 0
    assert selectors.run_status(run_id=run_id) is None
    assert selectors.run_steps(run_id=run_id) is None


@pytest.mark.django_db
def test_the_steps_route_of_a_deleted_run_forgets_it_too(cached_run):
    Run.objects.filter(pk=cached_run.pk).delete()
    assert selectors.run_steps(run_id=cached_run.pk) is None
    assert get_redis().exists(run_key(cached_run.pk), steps_key(cached_run.pk)) == 0


@pytest.mark.django_db(transaction=True)
def test_intake_and_the_worker_write_postgresqls_updated_at_into_the_snapshot(settings, django_assert_num_queries):
    """Else every read would rebuild: each writer's snapshot carries the value it stored."""
    settings.LLM_BACKEND = "builtin"
    load_knowledge_base()
    run = accept(subject="Free trial", body="How long is the free trial?")
    assert _snapshot(run.pk)["updated_at"] == utc_iso(run.updated_at)

    assert execute(run) == "completed"
    snapshot = _snapshot(run.pk)
    assert (snapshot["status"], snapshot["updated_at"]) == ("completed", utc_iso(run.updated_at))
    with django_assert_num_queries(1):
        assert selectors.run_status(run_id=run.pk) == snapshot
