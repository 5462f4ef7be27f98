"""Retention, erasure and export (inquiries/services/retention.py, inquiries/services/privacy.py,
docs/reliability.md "Retention, erasure and export"): personal data has a window, a way out of
every table and Redis key, and a copy for its owner; each act is audited without the address."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.redis_client import get_redis
from inquiries import hotstate, services
from inquiries.errors import ActionRefused
from inquiries.models import (
    AuditAction,
    AuditEntry,
    Contact,
    IdempotencyRecord,
    Inquiry,
    LeadScoreEntry,
    OutboundEmail,
    Run,
    RunEvent,
    RunEventType,
    RunStatus,
    RunStep,
)
from inquiries.services._common import queue_run_task
from testutils.factories import make_inquiry, make_run, make_step
from testutils.privacy import checkpoint_rows, database_mentions, redis_mentions

pytestmark = pytest.mark.django_db


def _person(name: str, email: str, *, days_ago: float = 0, status: str = RunStatus.COMPLETED,
            inquiry: Inquiry | None = None) -> Run:
    """A run of one person with a row in every table that can hold their data, checkpoints and
    Redis keys included, ended `days_ago` (or still running)."""
    when = timezone.now() - timedelta(days=days_ago)
    contact, _ = Contact.objects.get_or_create(email=email.lower(), defaults={"name": name})
    if inquiry is None:
        inquiry = make_inquiry(sender_name=name, sender_email=email, subject=f"Question from {name}",
                               body=f"I am {name}, write to {email}.", metadata={"reply_to": email},
                               raw_payload={"sender_name": name, "sender_email": email}, contact=contact,
                               client_ip="192.0.2.7")
        Inquiry.objects.filter(pk=inquiry.pk).update(created_at=when)
    run = make_run(inquiry=inquiry, status=status, intent="pricing", draft_response=f"Hi {name.split()[0]},",
                   final_response=f"Dear {name}, see you.", handoff_summary=f"{name} <{email}> asks",
                   escalation_reasons=[{"rule": "vip", "detail": f"{email} is a VIP"}],
                   escalation_reason=f"vip: {email} is a VIP")
    finished = when if status != RunStatus.RUNNING else None
    Run.objects.filter(pk=run.pk).update(created_at=when, finished_at=finished)
    make_step(run=run, sequence=1, inputs={"body": f"I am {name}"}, outputs={"to": email}, output=f"for {name}")
    make_step(run=run, sequence=2, node="draft_reply", action=f"drafted for {name}")
    RunEvent.objects.create(run=run, type=RunEventType.RECEIVED, message=f"from {email}", data={"name": name})
    RunEvent.objects.create(run=run, type=RunEventType.COMPLETED, message="Completed", data={})
    OutboundEmail.objects.create(run=run, to=email, subject=f"Re: Question from {name}", body=f"Dear {name}")
    IdempotencyRecord.objects.create(caller="api:tests", key=f"key-{run.pk}", fingerprint="0" * 64, run=run,
                                     expires_at=timezone.now() + timedelta(days=1))
    LeadScoreEntry.objects.create(contact=contact, run=run, score=60, tier="warm", signals={"who": name})
    queue_run_task(run.pk, name=f"run-{run.pk}")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO checkpoints (thread_id, checkpoint_id, type, checkpoint, metadata) "
                       "VALUES (%s, 'c1', 'json', %s, '{}')", [str(run.pk), json.dumps({"sender": name})])
        cursor.execute("INSERT INTO checkpoint_blobs (thread_id, channel, version, type, blob) "
                       "VALUES (%s, 'messages', '1', 'msgpack', %s)", [str(run.pk), f"to {email}".encode()])
        cursor.execute("INSERT INTO checkpoint_writes (thread_id, checkpoint_id, task_id, idx, channel, type, blob) "
                       "VALUES (%s, 'c1', 't1', 0, 'messages', 'msgpack', %s)", [str(run.pk), name.encode()])
    redis = get_redis()
    redis.set(hotstate.run_key(run.pk), json.dumps({"sender_name": name, "sender_email": email}))
    redis.rpush(hotstate.steps_key(run.pk), json.dumps({"output": f"for {name}"}))
    redis.set(hotstate.idempotency_key("api:tests", f"key-{run.pk}"), json.dumps({"run_id": str(run.pk)}))
    return run


def _redis_keys(run: Run) -> list[str]:
    return [hotstate.run_key(run.pk), hotstate.steps_key(run.pk), hotstate.idempotency_key("api:tests", f"key-{run.pk}")]


# --- Erasure ----------------------------------------------------------------------------------------

def test_erasure_leaves_the_person_nowhere_and_keeps_the_audit_facts(django_capture_on_commit_callbacks):
    erased = [_person("Zelda Quimby", "Zelda.Quimby@erase.example"),
              _person("Zelda Quimby", "zelda.quimby@erase.example", days_ago=3)]
    kept = _person("Otto Keeper", "otto.keeper@keep.example")
    assert database_mentions("zelda.quimby@erase.example")
    assert redis_mentions("Zelda Quimby")

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.contact_erase(email="ZELDA.QUIMBY@erase.example", actor_label="tests")

    assert (counts["runs"], counts["inquiries"], counts["contacts"], counts["emails"]) == (2, 2, 1, 2)
    for needle in ("zelda.quimby@erase.example", "Zelda Quimby", "Quimby"):
        assert database_mentions(needle) == [], needle
        assert redis_mentions(needle) == [], needle
    for run in erased:  # what the audit needs stays
        run.refresh_from_db()
        assert (run.status, run.intent, run.finished_at is not None) == (RunStatus.COMPLETED, "pricing", True)
        assert run.escalation_reasons == [{"rule": "vip", "detail": "[erased]"}]
        assert list(run.events.values_list("type", "message")) == [("received", "[erased]"), ("completed", "[erased]")]
        assert run.steps.count() == 2
        assert checkpoint_rows(run) == 0
        assert not any(get_redis().exists(key) for key in _redis_keys(run))
    # Somebody else's data is untouched.
    assert {"inquiries_inquiry.sender_email", "inquiries_outboundemail.to", "inquiries_contact.email",
            "checkpoint_blobs.blob"} <= set(database_mentions("otto.keeper@keep.example"))
    assert kept.events.get(type="received").message == "from otto.keeper@keep.example"
    assert checkpoint_rows(kept) == 3
    assert all(get_redis().exists(key) for key in _redis_keys(kept))
    [entry] = AuditEntry.objects.filter(action=AuditAction.CONTACT_ERASED)
    assert entry.detail["address_hmac"] == services.address_hash("zelda.quimby@erase.example")
    assert "zelda" not in json.dumps(entry.detail).lower() + entry.target.lower()


def test_erasure_waits_for_running_runs():
    run = _person("Rita Running", "rita@erase.example", status=RunStatus.RUNNING)
    with pytest.raises(ActionRefused):
        services.contact_erase(email="rita@erase.example")
    assert Inquiry.objects.get(pk=run.inquiry_id).sender_name == "Rita Running"


def test_events_stay_append_only_outside_an_erasure():
    run = _person("Una Update", "una@erase.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        RunEvent.objects.filter(run=run).update(message="rewritten")
    AuditEntry.objects.create(action=AuditAction.RETENTION_PURGE, detail={})
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.update(detail={"x": 1})


def test_erase_contact_command():
    _person("Cora Command", "cora@erase.example")
    call_command("erase_contact", "cora@erase.example", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert database_mentions("cora@erase.example") == []


# --- Retention --------------------------------------------------------------------------------------

def test_the_purge_removes_exactly_the_runs_that_ended_before_the_window(django_capture_on_commit_callbacks,
                                                                          settings):
    settings.RETENTION_DAYS = 365
    old = [_person("Olga Old", "olga@old.example", days_ago=400), _person("Oscar Old", "oscar@old.example",
                                                                         days_ago=500)]
    shared_old = _person("Sam Shared", "sam@shared.example", days_ago=400)
    shared_new = _person("Sam Shared", "sam@shared.example", inquiry=shared_old.inquiry)
    newer = _person("Nina New", "nina@new.example", days_ago=30)
    running = _person("Ron Running", "ron@old.example", days_ago=400, status=RunStatus.RUNNING)

    before = AuditEntry.objects.count()
    dry = services.runs_purge_expired(dry_run=True)
    assert (dry["runs"], dry["inquiries"], dry["contacts"], dry["checkpoint_threads"]) == (3, 2, 2, 3)
    assert Run.objects.count() == 6
    assert AuditEntry.objects.count() == before

    with django_capture_on_commit_callbacks(execute=True):
        counts = services.runs_purge_expired(batch_size=2)

    assert {k: counts[k] for k in ("runs", "steps", "events", "emails", "idempotency_records", "lead_scores",
                                   "checkpoint_threads", "inquiries", "contacts")} == {
        "runs": 3, "steps": 6, "events": 6, "emails": 3, "idempotency_records": 3, "lead_scores": 3,
        "checkpoint_threads": 3, "inquiries": 2, "contacts": 2}
    assert set(Run.objects.values_list("pk", flat=True)) == {shared_new.pk, newer.pk, running.pk}
    assert Inquiry.objects.filter(pk=shared_old.inquiry_id).exists()  # a newer run still uses it
    assert not Contact.objects.filter(email__in=["olga@old.example", "oscar@old.example"]).exists()
    assert Contact.objects.filter(email__in=["sam@shared.example", "nina@new.example", "ron@old.example"]).count() == 3
    for run in [*old, shared_old]:
        assert checkpoint_rows(run) == 0
        assert not any(get_redis().exists(key) for key in _redis_keys(run))
        assert not RunStep.objects.filter(run_id=run.pk).exists()
    for run in (shared_new, newer, running):
        assert checkpoint_rows(run) == 3
        assert run.steps.count() == 2
        assert run.events.count() == 2
    [entry] = AuditEntry.objects.filter(action=AuditAction.RETENTION_PURGE)
    assert entry.detail == {"retention_days": 365, **counts}
    assert "old.example" not in json.dumps(entry.detail) + entry.target


def test_a_window_of_zero_keeps_everything_and_the_command_dry_runs(settings, capsys):
    _person("Ada Ancient", "ada@old.example", days_ago=4000)
    settings.RETENTION_DAYS = 0
    assert not any(services.runs_purge_expired().values())
    settings.RETENTION_DAYS = 365
    call_command("purge_expired", "--dry-run")
    assert "would remove: runs 1," in capsys.readouterr().out
    assert Run.objects.count() == 1
    assert not AuditEntry.objects.filter(action=AuditAction.RETENTION_PURGE).exists()
    call_command("purge_expired")
    assert Run.objects.count() == 0
    assert AuditEntry.objects.filter(action=AuditAction.RETENTION_PURGE).count() == 1


def test_the_worker_purges_daily():
    import importlib
    import pydoc

    from django.apps import apps
    from django_q.models import Schedule

    migration = importlib.import_module("orchestration.migrations.0002_retention_schedule")
    migration.schedules(apps, None)
    migration.schedules(apps, None)  # applying twice changes nothing
    [schedule] = Schedule.objects.filter(name="autoflow: purge expired")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "orchestration.tasks.purge_expired", Schedule.DAILY, -1)
    assert callable(pydoc.locate(schedule.func))


# --- Export -----------------------------------------------------------------------------------------

def test_the_export_holds_every_inquiry_run_and_e_mail_of_the_person_and_nobody_else(tmp_path):
    mine = [_person("Erin Export", "erin@export.example"), _person("Erin Export", "ERIN@export.example", days_ago=2)]
    replay = make_run(inquiry=mine[0].inquiry, status=RunStatus.COMPLETED)
    other = _person("Olaf Other", "olaf@other.example")
    output = tmp_path / "erin.json"

    call_command("export_contact", "erin@export.example", "--output", str(output), stdout=open(os.devnull, "w"))  # noqa: SIM115

    document = json.loads(output.read_text())
    assert document["email"] == "erin@export.example"
    assert document["contact"]["name"] == "Erin Export"
    assert {i["id"] for i in document["inquiries"]} == {run.inquiry_id for run in mine}
    runs = [run for inquiry in document["inquiries"] for run in inquiry["runs"]]
    assert {run["id"] for run in runs} == {str(mine[0].pk), str(mine[1].pk), str(replay.pk)}
    assert sorted(e["to"] for run in runs for e in run["emails"]) == ["ERIN@export.example", "erin@export.example"]
    assert all(len(run["steps"]) == 2 and len(run["events"]) == 2 for run in runs if run["id"] != str(replay.pk))
    assert {k["key"] for run in runs for k in run["idempotency_keys"]} == {f"key-{run.pk}" for run in mine}
    assert len(document["lead_scores"]) == 2
    text = output.read_text().lower()
    assert "olaf" not in text
    assert str(other.pk) not in text
    [entry] = AuditEntry.objects.filter(action=AuditAction.CONTACT_EXPORTED)
    assert entry.detail["address_hmac"] == services.address_hash("erin@export.example")
    assert "erin" not in json.dumps(entry.detail) + entry.target


def test_the_admin_actions_need_their_own_permissions(client, django_user_model):
    from django.contrib.auth.models import Permission

    run = _person("Adam Admin", "adam@admin.example")
    staff = django_user_model.objects.create_user(username="clerk", password="pw-for-tests-only", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(staff)
    page = client.get("/admin/inquiries/contact/")
    assert page.status_code == 200
    assert b"export_contacts_json" not in page.content
    assert b"erase_contacts" not in page.content
    contact = Contact.objects.get(email="adam@admin.example")
    refused = client.post("/admin/inquiries/contact/", {"action": "export_contacts_json",
                                                        "_selected_action": [contact.pk]})
    assert refused.get("Content-Type", "").startswith("text/html")
    assert not AuditEntry.objects.filter(action=AuditAction.CONTACT_EXPORTED).exists()

    staff.user_permissions.add(Permission.objects.get(codename="export_contact"),
                               Permission.objects.get(codename="erase_contact"))
    staff = django_user_model.objects.get(pk=staff.pk)
    client.force_login(staff)
    page = client.get("/admin/inquiries/contact/")
    assert b"export_contacts_json" in page.content
    assert b"erase_contacts" in page.content
    exported = client.post("/admin/inquiries/contact/", {"action": "export_contacts_json",
                                                         "_selected_action": [contact.pk]})
    assert exported["Content-Type"].startswith("application/json")
    assert json.loads(exported.content)["inquiries"][0]["runs"][0]["id"] == str(run.pk)
    assert AuditEntry.objects.get(action=AuditAction.CONTACT_EXPORTED).actor == staff
    selection = {"action": "erase_contacts", "_selected_action": [contact.pk]}
    confirm = client.post("/admin/inquiries/contact/", selection)
    assert confirm.status_code == 200
    assert b"cannot be undone" in confirm.content
    assert Contact.objects.filter(pk=contact.pk).exists()
    erased = client.post("/admin/inquiries/contact/", {**selection, "post": "yes"})
    assert erased.status_code == 302
    assert database_mentions("adam@admin.example") == []
    assert AuditEntry.objects.get(action=AuditAction.CONTACT_ERASED).actor == staff


# --- LOG_REDACT_PII ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("app_env", "redacted"), [("production", True), ("development", False)])
def test_log_redaction_is_on_by_default_in_production(app_env, redacted):
    from scripts.common import REPO

    env = {k: v for k, v in os.environ.items() if k != "LOG_REDACT_PII"}
    env.update(DJANGO_SETTINGS_MODULE="autoflow.settings", APP_ENV=app_env)
    code = "from django.conf import settings; print(settings.LOG_REDACT_PII)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(redacted), out.stderr[-2000:]
