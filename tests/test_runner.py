"""The runner (orchestration/runner/) as real processes: many runs in flight per process and never
more than its slots, a wake-up on commit instead of the poll, and two machines sharing one
PostgreSQL and Redis, one of which dies. Then, in this process, the lease as a database guard."""

import os
import subprocess
import sys
import time
import types
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from scripts.common import REPO
from testutils.fake_ollama import FakeOllamaProcess
from testutils.live import kill_worker, live_stack, serve, start_worker

TERMINAL = ("completed", "escalated", "error")


def submit(url: str, key: str, n: int) -> str:
    response = httpx.post(f"{url}/api/v1/webhook", timeout=30, headers={"X-API-Key": key,
                                                                         "Idempotency-Key": f"runner-{uuid.uuid4()}"},
                          # A customer of its own each time: the tests here are about runs, not the
                          # per-recipient reply throttle (AUTO_REPLY_PER_RECIPIENT).
                          json={"sender_name": f"Runner {n}", "sender_email": f"runner{n}-{uuid.uuid4().hex[:8]}@example.com",
                                "subject": "Free trial", "body": "How long is the free trial, and what then?"})
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def submit_many(urls: list[str], key: str, count: int) -> list[str]:
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda n: submit(urls[n % len(urls)], key, n), range(count)))


def wait_terminal(stack, run_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = stack.sql("SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[]) AND status = 'running'",
                         [run_ids])[0][0]
        if left == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{left} runs not terminal after {timeout} s")


def on_machine(stack, name: str, **env: str):
    """The stack as seen from another machine: the worker's host name is `name`."""
    return types.SimpleNamespace(env={**stack.env, "AUTOFLOW_HOSTNAME": name, **env})


def assert_exactly_once(stack, run_ids: list[str]) -> None:
    assert stack.sql("SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[])", [run_ids]) == [(len(run_ids),)]
    twice = stack.sql("SELECT count(*) FROM (SELECT run_id, key FROM inquiries_runstep WHERE run_id = ANY(%s::uuid[]) "
                      "GROUP BY run_id, key HAVING count(*) > 1) d", [run_ids])
    assert twice == [(0,)]
    mails = stack.sql("SELECT count(*) FROM (SELECT run_id FROM inquiries_outboundemail WHERE run_id = ANY(%s::uuid[]) "
                      "GROUP BY run_id HAVING count(*) > 1) d", [run_ids])
    assert mails == [(0,)]
    ends = stack.sql("SELECT count(*) FROM (SELECT run_id FROM inquiries_runevent WHERE run_id = ANY(%s::uuid[]) "
                     "AND type IN ('completed', 'escalated', 'failed') GROUP BY run_id HAVING count(*) <> 1) d",
                     [run_ids])
    assert ends == [(0,)]


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    fake = FakeOllamaProcess(tmp_path_factory.mktemp("fake-ollama"), mode="slow", delay=1.0)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stack(fake):
    with live_stack(OLLAMA_BASE_URL=fake.url, LLM_BACKEND="ollama") as live:
        subprocess.run([sys.executable, "manage.py", "load_demo_data"], cwd=REPO, env=live.env, check=True,
                       capture_output=True)
        yield live


@pytest.mark.services
def test_one_process_holds_many_runs_at_once_and_never_more_than_its_slots(stack, fake):
    fake.set_mode("slow", 1.0)  # three model calls: about 3 s per run
    worker = start_worker(on_machine(stack, "solo", Q_WORKERS="1", RUN_CONCURRENCY="6"))
    try:
        started = time.monotonic()
        run_ids = submit_many([stack.url], stack.WEBHOOK_KEY, 12)
        most, waiting_while_full = 0, 0
        while time.monotonic() - started < 60:
            in_flight, held, waiting = stack.sql(
                "SELECT (SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[]) AND status = 'running' "
                "AND lease_owner <> ''), (SELECT count(*) FROM django_q_ormq WHERE lock > now()), "
                "(SELECT count(*) FROM django_q_ormq WHERE lock <= now())", [run_ids])[0]
            most = max(most, in_flight)
            assert held <= 6  # it never takes more tasks than it has slots
            if held == 6 and waiting:
                waiting_while_full += 1  # the rest stays in the queue, for any other cluster
            if stack.sql("SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[]) AND status = 'running'",
                         [run_ids])[0][0] == 0:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
    finally:
        kill_worker(worker, 15)
    assert most == 6
    assert waiting_while_full > 0
    assert elapsed < 15  # two waves of ~3 s, where one run at a time would take 36 s
    assert stack.sql("SELECT DISTINCT status FROM inquiries_run WHERE id = ANY(%s::uuid[])", [run_ids]) == [
        ("completed",)]
    assert_exactly_once(stack, run_ids)


@pytest.mark.services
def test_a_queued_run_starts_on_the_commit_notification_not_on_the_poll(stack, fake):
    fake.set_mode("ok", 0.0)
    # A poll of a minute: only the NOTIFY sent at the intake's commit can start these runs quickly.
    worker = start_worker(on_machine(stack, "notified", Q_WORKERS="1", RUN_POLL_SECONDS="60"))
    try:
        first = submit(stack.url, stack.WEBHOOK_KEY, 0)  # the worker's warm-up, whenever it is up
        wait_terminal(stack, [first], 60)
        run_ids = []
        for n in range(8):
            run_ids.append(submit(stack.url, stack.WEBHOOK_KEY, n))
            time.sleep(0.3)
        wait_terminal(stack, run_ids, 30)
    finally:
        kill_worker(worker, 15)
    pickups = sorted(s for (s,) in stack.sql(
        "SELECT extract(epoch FROM started_at - created_at) FROM inquiries_run WHERE id = ANY(%s::uuid[])", [run_ids]))
    assert float(pickups[len(pickups) // 2]) < 0.1
    assert float(pickups[-1]) < 1.0


@pytest.mark.services
def test_a_worker_process_that_dies_is_forked_again_and_its_run_resumed_at_once(stack, fake):
    """One worker process of the cluster SIGKILLed mid-run: the cluster forks a new one, which
    queues the dead one's run again at once (not after the lease) and the run ends once."""
    import json
    import os
    import signal

    fake.set_mode("slow", 1.0)
    worker = start_worker(on_machine(stack, "restarts", Q_WORKERS="1"))
    try:
        run_id = submit(stack.url, stack.WEBHOOK_KEY, 0)
        deadline = time.monotonic() + 60
        while not (owner := stack.sql("SELECT lease_owner FROM inquiries_run WHERE id = %s", [run_id])[0][0]):
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        os.kill(int(owner.rsplit(":", 1)[1]), signal.SIGKILL)  # that worker process only
        killed = time.monotonic()
        wait_terminal(stack, [run_id], 30)
        reports = [json.loads(stack.redis_client().get(key)) for key in stack.redis_client().keys("autoflow:worker:*")]
    finally:
        kill_worker(worker, 15)
    assert time.monotonic() - killed < 25  # not the lease: the new process saw its predecessor dead
    assert any(r["cluster"].startswith("restarts:") and r["restarts"] == 1 for r in reports), reports
    assert stack.sql("SELECT status, attempts FROM inquiries_run WHERE id = %s", [run_id]) == [("completed", 2)]
    assert_exactly_once(stack, [run_id])


@pytest.mark.services
def test_two_machines_share_the_queue_and_the_survivor_finishes_the_orphans(stack, fake, tmp_path):
    """Two web tiers and two worker clusters, each under its own host name, on one PostgreSQL and
    Redis; 1,000 inquiries; one cluster SIGKILLed halfway."""
    fake.set_mode("slow", 0.2)
    second_web = serve(stack, run_dir=tmp_path / "web-b")
    cluster_a = start_worker(on_machine(stack, "machine-a"))
    cluster_b = start_worker(on_machine(stack, "machine-b"))
    try:
        run_ids = submit_many([stack.url, second_web.url], stack.WEBHOOK_KEY, 1000)
        deadline = time.monotonic() + 120
        while True:
            done, a_in_flight = stack.sql(
                "SELECT count(*) FILTER (WHERE status <> 'running'), count(*) FILTER (WHERE status = 'running' "
                "AND lease_owner LIKE 'machine-a:%%') FROM inquiries_run WHERE id = ANY(%s::uuid[])", [run_ids])[0]
            if done >= 300 and a_in_flight:
                break
            assert time.monotonic() < deadline, f"{done} done, {a_in_flight} in flight on machine-a"
            time.sleep(0.05)
        kill_worker(cluster_a)  # SIGKILL to every process of machine-a's cluster
        # When each orphan's worker last renewed its lease: the lease runs 25 s (RUN_LEASE_SECONDS
        # less one heartbeat) from a renewal.
        orphans = dict(stack.sql(
            "SELECT id::text, lease_expires_at - interval '25 seconds' FROM inquiries_run "
            "WHERE id = ANY(%s::uuid[]) AND status = 'running' AND lease_owner LIKE 'machine-a:%%'", [run_ids]))
        assert orphans
        wait_terminal(stack, run_ids, 180)
    finally:
        kill_worker(cluster_a)
        kill_worker(cluster_b, 15)
        second_web.stop()

    assert_exactly_once(stack, run_ids)
    assert stack.sql("SELECT DISTINCT status FROM inquiries_run WHERE id = ANY(%s::uuid[]) ORDER BY 1", [run_ids]) == [
        ("completed",)]
    machines = dict(stack.sql(
        "SELECT split_part(actor_label, ':', 2), count(DISTINCT run_id) FROM inquiries_runevent "
        "WHERE run_id = ANY(%s::uuid[]) AND type IN ('started', 'retried') GROUP BY 1", [run_ids]))
    assert machines.get("machine-a", 0) > 0, machines
    assert machines.get("machine-b", 0) > 0, machines
    # The promise (orchestration/runner): an orphan is claimed again within RUN_LEASE_SECONDS (30 s)
    # of its worker's last heartbeat; it then finishes as any run does (a few seconds here, more
    # while the rest of the suite loads the machine).
    late = stack.sql(
        "SELECT r.id, extract(epoch FROM r.finished_at - h.beat) FROM inquiries_run r "
        "JOIN unnest(%s::uuid[], %s::timestamptz[]) AS h(id, beat) ON h.id = r.id "
        "WHERE r.attempts <> 2 OR r.finished_at > h.beat + interval '45 seconds' OR NOT EXISTS ("
        "  SELECT 1 FROM inquiries_runevent v WHERE v.run_id = r.id AND v.type = 'retried' "
        "  AND v.created_at <= h.beat + interval '30 seconds')", [list(orphans), list(orphans.values())])
    detail = [stack.sql("SELECT v.type, v.actor_label, extract(epoch FROM v.created_at - h.beat) FROM inquiries_runevent v "
                        "JOIN unnest(%s::uuid[], %s::timestamptz[]) AS h(id, beat) ON h.id = v.run_id "
                        "WHERE v.run_id = %s ORDER BY v.id", [list(orphans), list(orphans.values()), row[0]])
              for row in late[:2]]
    assert late == [], "\n".join(map(str, detail))  # every orphan was claimed again within 30 s of its last heartbeat, and finished
    takers = stack.sql("SELECT DISTINCT split_part(actor_label, ':', 2) FROM inquiries_runevent "
                       "WHERE run_id = ANY(%s::uuid[]) AND type = 'retried'", [list(orphans)])
    assert takers == [("machine-b",)]


# --- The lease as a database guard (in this process) ---------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_worker_that_lost_its_lease_writes_nothing():
    from django.utils import timezone

    from inquiries import services
    from inquiries.models import Run, RunStep
    from testutils.workflow import accept

    run = accept(subject="Free trial", body="How long is the trial?")
    lease = services.run_claim(run_id=run.pk, owner="host:1:100", hold_seconds=25, max_attempts=3)
    assert lease is not None
    assert lease.attempt == 1
    # Presumed dead, it was taken over: another worker holds attempt 2.
    Run.objects.filter(pk=run.pk).update(lease_owner="host:1:200", attempts=2)
    marker = ("UPDATE inquiries_run SET current_agent = 'zombie' WHERE id = %s", [run.pk])

    now = timezone.now()
    with pytest.raises(services.LeaseLost):
        services.run_step_record(lease, key="classify_intent", node="classify_intent", agent="classifier",
                                 action="Classified", started_at=now, finished_at=now, hold_seconds=25, carried=[marker])
    with pytest.raises(services.LeaseLost):
        services.run_finish_under_lease(lease, status="completed", carried=[marker])

    run.refresh_from_db()
    assert (run.status, run.current_agent, run.lease_owner) == ("running", "queued", "host:1:200")
    assert RunStep.objects.filter(run=run).count() == 0
    assert not run.events.filter(type__in=["step", "completed"]).exists()


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_only_the_leases_its_worker_holds():
    from inquiries import services
    from inquiries.models import Run
    from testutils.workflow import accept

    mine, theirs = accept(subject="Mine", body="Trial?"), accept(subject="Theirs", body="Trial?")
    services.run_claim(run_id=mine.pk, owner="host:1:100", hold_seconds=1, max_attempts=3)
    services.run_claim(run_id=theirs.pk, owner="host:1:200", hold_seconds=1, max_attempts=3)

    held = services.leases_renew(owner="host:1:100", runs={mine.pk: None, theirs.pk: None}, task_ids=[],
                                 hold_seconds=25)

    assert held == {str(mine.pk)}
    leases = dict(Run.objects.filter(pk__in=[mine.pk, theirs.pk]).values_list("lease_owner", "lease_expires_at"))
    assert (leases["host:1:100"] - leases["host:1:200"]).total_seconds() > 20


@pytest.mark.django_db(transaction=True)
def test_a_task_handed_back_is_not_held_again_by_a_heartbeat_that_raced_it():
    """A worker took a task whose run another worker still leased (a dead machine's orphan, a
    moment before its lease lapsed) and handed it back until the lease's end. Its heartbeat, which
    had read the slots just before, must not hold that task for a whole lease again: the two-machine
    test's survivor then took its orphans some 25 s late."""
    from django.utils import timezone
    from django_q.models import OrmQ

    from inquiries import services, taskqueue
    from testutils.workflow import accept

    mine, theirs = accept(subject="Mine", body="Trial?"), accept(subject="Theirs", body="Trial?")
    task_of = {task["args"][0]: task_id for task_id, task in taskqueue.take(limit=10, hold_seconds=25)}
    services.run_claim(run_id=mine.pk, owner="host:1:100", hold_seconds=1, max_attempts=3)
    services.run_claim(run_id=theirs.pk, owner="host:1:200", hold_seconds=1, max_attempts=3)
    soon = timezone.now() + timedelta(seconds=1)
    taskqueue.hold_until(task_id=task_of[str(theirs.pk)], until=soon)  # busy: back when the lease ends

    held = services.leases_renew(owner="host:1:100", task_ids=[], hold_seconds=25, runs={
        mine.pk: task_of[str(mine.pk)], theirs.pk: task_of[str(theirs.pk)]})

    assert held == {str(mine.pk)}
    locks = dict(OrmQ.objects.values_list("id", "lock"))
    assert locks[task_of[str(theirs.pk)]] <= soon + timedelta(seconds=1)
    assert (locks[task_of[str(mine.pk)]] - timezone.now()).total_seconds() > 20


@pytest.mark.django_db(transaction=True)
def test_each_node_commits_the_checkpoint_of_the_node_before_it(settings):
    """Durability `sync` keeps a checkpoint per node although none is written on its own."""
    from django.db import connection

    from testutils.workflow import accept, execute

    run = accept(subject="Free trial", body="How long is the free trial?")
    assert execute(run) in ("completed", "escalated")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s", [str(run.pk)])
        (checkpoints,) = cursor.fetchone()
    assert checkpoints >= 5  # the input, then one after each of the four nodes


def test_a_retired_runner_setting_is_refused_by_name():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "autoflow.settings", "RUN_LEASE_SLACK_SECONDS": "30"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "autoflow.E010" in result.stderr
    assert "RUN_LEASE_SLACK_SECONDS is no longer used" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_a_task_whose_run_another_worker_holds_comes_back_when_that_lease_would_end():
    """The task is what takes the run up if that worker has died: it is kept, not dropped."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ

    from inquiries.models import Run
    from orchestration import tasks
    from testutils.workflow import accept

    run = accept(subject="Free trial", body="How long is the trial?")
    [task] = [t for t in OrmQ.objects.all() if t.task["args"] == (str(run.pk),)]
    until = timezone.now() + timedelta(seconds=20)
    Run.objects.filter(pk=run.pk).update(attempts=1, lease_owner="host:1:200", lease_expires_at=until)

    assert tasks.run_execute(str(run.pk), task_id=task.pk) == "busy"

    task.refresh_from_db()
    assert abs((task.lock - until).total_seconds()) < 1
    run.refresh_from_db()
    assert (run.attempts, run.lease_owner) == (1, "host:1:200")


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_loses_the_race_with_a_lapsing_lease_keeps_the_task(monkeypatch):
    """The claim found the dead worker's lease still live, and by the time the worker looked why,
    it had lapsed: the task comes back at once. Dropping it left the run to the reaper, a minute
    later (seen with two machines on a loaded box)."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ

    from inquiries.models import Run
    from inquiries.services import leases
    from orchestration import tasks
    from testutils.workflow import accept

    run = accept(subject="Free trial", body="How long is the trial?")
    [task] = [t for t in OrmQ.objects.all() if t.task["args"] == (str(run.pk),)]
    Run.objects.filter(pk=run.pk).update(attempts=1, lease_owner="host:1:200",
                                         lease_expires_at=timezone.now() - timedelta(milliseconds=5))
    # The claim as it ran a moment earlier, when that lease was still live: it matched nothing.
    monkeypatch.setattr(leases, "_CLAIM_SQL", leases._CLAIM_SQL.replace("RETURNING", "AND false RETURNING"))

    assert tasks.run_execute(str(run.pk), task_id=task.pk) == "busy"

    task.refresh_from_db()  # kept, and free again now
    assert abs((task.lock - timezone.now()).total_seconds()) < 2
    run.refresh_from_db()
    assert (run.status, run.attempts, run.lease_owner) == ("running", 1, "host:1:200")


@pytest.mark.django_db(transaction=True)
def test_a_queue_row_that_is_not_a_signed_task_is_removed_not_executed():
    from django.utils import timezone
    from django_q.models import OrmQ

    from inquiries import taskqueue

    forged = OrmQ.objects.create(key=taskqueue.queue_name(), payload="not-a-signed-task",
                                 lock=timezone.now() - timezone.timedelta(seconds=1))

    taken = taskqueue.take(limit=100, hold_seconds=25)

    assert forged.pk not in [task_id for task_id, _ in taken]
    assert not OrmQ.objects.filter(pk=forged.pk).exists()
