"""Deleting through the admin goes through the same service as the API (inquiries/services/runs.py
`run_delete`): the run's Redis keys go, its orphaned inquiry goes, and a durable, append-only
audit entry (AuditEntry) records who deleted what, from where, without the run's personal data."""

import re

import httpx
import pytest
from django.db import IntegrityError, transaction

from core.redis_client import get_redis
from inquiries import hotstate, services
from inquiries.events import run_event_record
from inquiries.hotstate import run_key, steps_key
from inquiries.models import AuditAction, AuditEntry, Inquiry, Run, RunEventType
from inquiries.payloads import run_status_payload
from testutils.factories import make_inquiry, make_run, make_step
from testutils.live import admin_login

PII = {"sender_name": "Audit Ada", "sender_email": "audit.ada@leak.example", "subject": "Audit subject",
       "body": "Audit body nobody may keep."}
ADMIN_PASSWORD = "audit-admin-password-1234"


def _form_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_delete_selected_in_the_admin_over_http_goes_through_the_service(live):
    """A staff superuser signs in to the real web tier and deletes two runs with the changelist's
    "delete selected" action (CSRF and all): their snapshots leave Redis, an audit entry names
    him, and the inquiry left without runs is gone while a shared one stays."""
    live.manage("shell", "-c", "from django.contrib.auth.models import User; "
                f"User.objects.create_superuser('audit-root', password='{ADMIN_PASSWORD}')", quiet=True)
    api = httpx.Client(base_url=live.url, timeout=15, headers={"X-API-Key": live.WEBHOOK_KEY})
    run_ids = [api.post("/api/v1/webhook", json={**PII, "subject": f"Audit subject {n}"}).json()["run_id"]
               for n in range(2)]
    redis = live.redis_client()
    assert all(redis.exists(f"autoflow:run:{run_id}") for run_id in run_ids)
    [(inquiry_id,)] = live.sql("SELECT inquiry_id FROM inquiries_run WHERE id = %s", [run_ids[0]])
    # A replay shares the first run's inquiry: it must outlive the deletion of that run.
    live.manage("shell", "-c", "from inquiries.models import Run; first = Run.objects.get(pk="
                f"'{run_ids[0]}'); Run.objects.create(inquiry=first.inquiry, "
                "workflow_version='1.0.0')", quiet=True)

    admin = admin_login(live.url, "audit-root", ADMIN_PASSWORD)
    changelist = admin.get("/admin/inquiries/run/")
    selection = {"action": "delete_selected", "_selected_action": run_ids, "index": "0"}
    confirm = admin.post("/admin/inquiries/run/", data={**selection, "csrfmiddlewaretoken": _form_token(changelist.text)})
    assert confirm.status_code == 200
    assert "Are you sure" in confirm.text
    done = admin.post("/admin/inquiries/run/", data={**selection, "post": "yes",
                                                     "csrfmiddlewaretoken": _form_token(confirm.text)})
    assert done.status_code == 302

    assert live.sql("SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[])", [run_ids]) == [(0,)]
    assert not any(redis.exists(f"autoflow:run:{run_id}", f"autoflow:steps:{run_id}") for run_id in run_ids)
    entries = live.sql("SELECT e.target, e.actor_label, u.username, e.ip::text, e.detail::text "
                       "FROM inquiries_auditentry e JOIN auth_user u ON u.id = e.actor_id "
                       "WHERE e.action = 'run_deleted' AND e.target = ANY(%s) ORDER BY e.target", [run_ids])
    assert sorted(target for target, *_ in entries) == sorted(run_ids)
    assert {(label, username) for _, label, username, _, _ in entries} == {("user:audit-root", "audit-root")}
    assert all(ip in ("127.0.0.1/32", "127.0.0.1") for *_, ip, _ in entries)
    assert not any(value in detail for *_, detail in entries for value in PII.values())
    # The shared inquiry stays with its other run; the other, orphaned, is gone.
    inquiries = live.sql("SELECT i.id FROM inquiries_inquiry i JOIN inquiries_run r ON r.inquiry_id = i.id "
                         "WHERE i.subject LIKE 'Audit subject %%'")
    assert inquiries == [(inquiry_id,)]


@pytest.fixture
def cached_run():
    run = make_run(inquiry=make_inquiry(**PII), status="completed")
    make_step(run=run, sequence=1)
    run_event_record(run=run, type=RunEventType.RECEIVED, message="received")  # events go with the run
    hotstate.snapshot_write(run_status_payload(run))
    return run


def _entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


@pytest.mark.django_db
def test_deleting_one_run_in_the_admin_is_audited_and_leaves_nothing_in_redis(admin_client, admin_user, cached_run):
    assert admin_client.post(f"/admin/inquiries/run/{cached_run.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Run.objects.filter(pk=cached_run.pk).exists()
    assert not Inquiry.objects.filter(pk=cached_run.inquiry_id).exists()
    assert get_redis().exists(run_key(cached_run.pk), steps_key(cached_run.pk)) == 0
    [entry] = _entries(AuditAction.RUN_DELETED)
    assert (entry.target, entry.actor, entry.actor_label, entry.ip) == (
        str(cached_run.pk), admin_user, f"user:{admin_user.username}", "127.0.0.1")
    assert entry.detail["status"] == "completed"
    assert entry.detail["inquiry_deleted"] is True


@pytest.mark.django_db
def test_deleting_an_inquiry_in_the_admin_deletes_its_runs_through_the_service(admin_client, admin_user, cached_run):
    inquiry = cached_run.inquiry
    replay = make_run(inquiry=inquiry, status="completed")
    lonely = make_inquiry(subject="No run at all")
    response = admin_client.post("/admin/inquiries/inquiry/", {
        "action": "delete_selected", "_selected_action": [inquiry.pk, lonely.pk], "post": "yes"})
    assert response.status_code == 302
    assert not Inquiry.objects.filter(pk__in=[inquiry.pk, lonely.pk]).exists()
    assert get_redis().exists(run_key(cached_run.pk)) == 0
    assert sorted(e.target for e in _entries(AuditAction.RUN_DELETED)) == sorted([str(cached_run.pk), str(replay.pk)])
    [alone] = _entries(AuditAction.INQUIRY_DELETED)
    assert (alone.target, alone.actor) == (str(lonely.pk), admin_user)


@pytest.mark.django_db
def test_the_console_delete_is_audited_too(operator_client, operator, cached_run):
    assert operator_client.post(f"/console/runs/{cached_run.pk}/delete").status_code == 302
    [entry] = _entries(AuditAction.RUN_DELETED)
    assert (entry.target, entry.actor_label) == (str(cached_run.pk), "user:olivia")


@pytest.mark.django_db
def test_the_service_records_another_callers_label():
    run = make_run()
    assert services.run_delete(run_id=run.pk, actor_label="api:admin-key", ip="203.0.113.9") is True
    [entry] = _entries(AuditAction.RUN_DELETED)
    assert (entry.actor, entry.actor_label, entry.ip) == (None, "api:admin-key", "203.0.113.9")
    assert services.run_delete(run_id=run.pk) is False  # nothing to delete: nothing audited
    assert len(_entries(AuditAction.RUN_DELETED)) == 1


@pytest.mark.django_db
def test_audit_entries_are_append_only_and_survive_their_actor(django_user_model):
    user = django_user_model.objects.create_user("leaver", password="pw-for-tests-only")
    run = make_run()
    services.run_delete(run_id=run.pk, actor=user)
    entry = AuditEntry.objects.get(target=str(run.pk))
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(target="something else")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(detail={})
    user.delete()  # the one update allowed: ON DELETE SET NULL of the actor
    entry.refresh_from_db()
    assert (entry.actor, entry.actor_label, entry.target) == (None, "user:leaver", str(run.pk))


@pytest.mark.django_db
def test_the_audit_log_is_read_only_in_the_admin(admin_client, auditor_client):
    services.run_delete(run_id=make_run().pk, actor_label="api:admin-key")
    entry = AuditEntry.objects.get()
    assert auditor_client.get("/admin/inquiries/auditentry/").status_code == 200
    assert admin_client.get(f"/admin/inquiries/auditentry/{entry.pk}/change/").status_code == 200
    assert admin_client.get("/admin/inquiries/auditentry/add/").status_code == 403
    assert admin_client.post(f"/admin/inquiries/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"/admin/inquiries/auditentry/{entry.pk}/change/", {"target": "x"}).status_code == 403
    assert AuditEntry.objects.get().target == entry.target
