"""Chaos: the whole product as real processes under one fault at a time (docs/reliability.md).

    make chaos                                   # every fault at full length (about 9 minutes)
    .venv/bin/python -m chaos --short            # the shortened form `make test` runs
    .venv/bin/python -m chaos --only redis_down,worker_kill

It starts PostgreSQL, Redis, the web tier (nginx, gunicorn, daphne), one worker cluster (`manage.py runcluster`) and the fake
Ollama (each model call takes `model_delay`), then sends a steady stream of signed inquiries as a
well-behaved integrator would: Standard Webhooks headers, and a 429/503 or no answer retried with
the same `webhook-id` after `Retry-After`. The integrator keeps its own log of every attempt.

Faults, one at a time, while the stream goes on:
  redis_down         Redis stopped, then started again
  postgres_down      PostgreSQL stopped, then started again (webhook answers 503 + Retry-After)
  worker_kill        the worker cluster killed with SIGKILL mid-run, a new one started, repeatedly
  crash_loop         a worker that dies seconds after every start, then a healthy one
  ollama_down        the model server gone (connection refused), then back
  ollama_slow        seconds to the first byte, beyond the first-byte timeout
  ollama_503         the model server answering 503 (its queue full)
  ollama_invalid     the model answering text that is not the JSON asked for
  duplicate_storm    the same webhook-id from 50 clients at once; signed requests replayed
                     inside the 5-minute tolerance (same run) and outside it (401)

After each fault the invariants are checked for the inquiries sent while it lasted, from
PostgreSQL and the integrator's log:
  lost        run ids answered 200 that are not in the database            (must be 0)
  stuck       accepted runs not terminal `terminal_bound` s after the fault (must be 0)
  dup         a webhook-id answered with two run ids, a node recorded twice for a run,
              more than one reply e-mail for a run, or attempts above the maximum (must be 0)
  audit       runs missing the event of a state they reached (received, queued, started,
              step per step, and the terminal one)                          (must be 0)
  health      /health probes (every 0.25 s) that got no answer              (must be 0)
plus the fault's own expectations (below the table). The exit status is 1 when any fails.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook

from bench.pipeline import inquiry as bench_inquiry
from scripts.services import REPO, scratch_base
from tests.fake_ollama import FakeOllamaProcess
from tests.live import LiveStack, kill_worker, start_worker

SECRET = "whsec_" + base64.b64encode(b"chaos-suite-signing-secret-32byt").decode()
TERMINAL = ("completed", "escalated", "error")
RETRYABLE = (429, 502, 503, 504)


@dataclass(frozen=True)
class Config:
    short: bool = False
    rate: float = 2.0  # inquiries per second in the steady stream
    max_attempts: int = 3  # RUN_MAX_ATTEMPTS, the production default
    model_delay: float = 0.25  # each fake model call, in the steady state
    give_up: float = 120.0  # the integrator stops retrying an inquiry after this long
    workers: int = 2  # Q_WORKERS of the one worker cluster, the production default
    # The promises checked, with the runner's production defaults (RUN_LEASE_SECONDS=30):
    after_postgres: float = 60.0  # every run terminal this long after PostgreSQL is back
    after_kill: float = 30.0  # every run a SIGKILL cut terminal this long after the kill

    def seconds(self, full: float, short: float) -> float:
        return short if self.short else full

    @property
    def terminal_bound(self) -> float:
        """How long after a fault the suite waits for its runs before it counts them stuck: a
        lease (30 s), a retry's backoff and the run again, with room to spare. The promises
        above are checked on the times the runs actually ended."""
        return 120.0

    def environment(self) -> dict[str, str]:
        """Every runner setting is the production default. The model client is set as for a model
        that answers within two seconds (customer settings too), so that a slow or dead model
        costs seconds here rather than the defaults' minutes."""
        return {
            "LLM_BACKEND": "ollama", "WEBHOOK_SIGNING_SECRET": SECRET, "Q_WORKERS": str(self.workers),
            "RUN_MAX_ATTEMPTS": str(self.max_attempts),
            "OLLAMA_FIRST_BYTE_TIMEOUT": "2", "OLLAMA_CALL_TIMEOUT": "4", "OLLAMA_MAX_RETRIES": "1",
            "OLLAMA_BREAKER_RESET_SECONDS": "5", "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        }


# --- The integrator: signed requests, retries, and its own log ----------------------------------

@dataclass
class Attempt:
    fault: str
    key: str
    sent_at: float
    answered_at: float
    status: int | None  # None: no HTTP answer (refused, reset, timed out)
    run_id: str | None = None
    retry_after: str | None = None


def inquiry(n: int) -> dict:
    """bench/'s sample inquiry, from one of 97 senders (so contacts have earlier inquiries)."""
    return {**bench_inquiry(n), "sender_name": f"Chaos {n}", "sender_email": f"chaos{n % 97}@example.com"}


class Integrator:
    """A sender that behaves as the contract asks: it signs every request, and retries a 429, a
    503 or a lost answer with the same webhook-id (so the same inquiry) after Retry-After."""

    def __init__(self, url: str, api_key: str, give_up: float):
        self.url = f"{url}/api/v1/webhook"
        self.api_key = api_key
        self.give_up = give_up
        self.signer = Webhook(SECRET)
        self.client = httpx.Client(timeout=15, limits=httpx.Limits(max_connections=128, max_keepalive_connections=32))
        self.log: list[Attempt] = []
        self._lock = threading.Lock()

    def post(self, key: str, body: bytes, *, fault: str, signed_at: float | None = None) -> Attempt:
        moment = datetime.fromtimestamp(int(signed_at or time.time()), tz=UTC)
        headers = {"X-API-Key": self.api_key, "Content-Type": "application/json", "webhook-id": key,
                   "webhook-timestamp": str(int(moment.timestamp())),
                   "webhook-signature": self.signer.sign(key, moment, body.decode())}
        sent = time.time()
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError:
            attempt = Attempt(fault, key, sent, time.time(), None)
        else:
            run_id = response.json().get("run_id") if response.status_code == 200 else None
            attempt = Attempt(fault, key, sent, time.time(), response.status_code, run_id,
                              response.headers.get("retry-after"))
        with self._lock:
            self.log.append(attempt)
        return attempt

    def deliver(self, n: int, fault: str) -> Attempt:
        key = f"chaos-{uuid.uuid4()}"
        body = json.dumps(inquiry(n)).encode()
        deadline = time.monotonic() + self.give_up
        while True:
            attempt = self.post(key, body, fault=fault)
            if attempt.status is not None and attempt.status not in RETRYABLE:
                return attempt
            if time.monotonic() > deadline:
                return attempt
            wait = float(attempt.retry_after) if (attempt.retry_after or "").isdigit() else 1.0
            time.sleep(min(max(wait, 0.5), 5.0))

    def attempts(self, fault: str) -> list[Attempt]:
        with self._lock:
            return [a for a in self.log if a.fault == fault]


class Stream:
    """A steady stream of inquiries, each delivered on its own thread so a retry never slows it.
    Every inquiry is labelled with the fault in progress when it was first sent."""

    def __init__(self, integrator: Integrator, rate: float):
        self.integrator = integrator
        self.rate = rate
        self.fault = "warm-up"
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=256)
        self.futures: dict[str, list[concurrent.futures.Future]] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n, start = 0, time.monotonic()
        while not self._stop.is_set():
            fault = self.fault
            self.futures.setdefault(fault, []).append(self.pool.submit(self.integrator.deliver, n, fault))
            n += 1
            self._stop.wait(max(0.0, start + n / self.rate - time.monotonic()))

    def start(self) -> None:
        self.thread.start()

    def settle(self, fault: str) -> None:
        """Wait until every inquiry of `fault` was answered for good (or given up)."""
        concurrent.futures.wait(self.futures.get(fault, []))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()
        self.pool.shutdown(wait=True)


class HealthProbe:
    """Asks /health every 0.25 s; an answer is any JSON health report (503 while PostgreSQL is
    down is an answer), a failure is no answer or a body that is not one."""

    def __init__(self, url: str):
        self.url = f"{url}/health"
        self.fault = "warm-up"
        self.results: list[tuple[str, bool, str]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=3) as client:
            while not self._stop.wait(0.25):
                try:
                    response = client.get(self.url)
                    ok = response.status_code in (200, 503) and "status" in response.json()
                    detail = str(response.status_code)
                except (httpx.HTTPError, ValueError) as exc:
                    ok, detail = False, type(exc).__name__
                self.results.append((self.fault, ok, detail))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()

    def failures(self, fault: str) -> list[str]:
        return [detail for name, ok, detail in self.results if name == fault and not ok]


# --- The product as processes -------------------------------------------------------------------

class Product:
    def __init__(self, base: Path, config: Config):
        self.base = base
        self.config = config
        self.fake = FakeOllamaProcess(base, mode="slow", delay=config.model_delay)
        self.fake.start()
        self.workers: list[subprocess.Popen] = []
        self.worker_starts = 0
        try:
            self.stack = LiveStack(base, web_log=base / "web.log", OLLAMA_BASE_URL=self.fake.url,
                                   **config.environment())
        except BaseException:
            self.fake.stop()
            raise
        try:
            subprocess.run([sys.executable, "manage.py", "load_demo_data"], cwd=REPO, env=self.stack.env,
                           check=True, capture_output=True)
            self.start_worker()
        except BaseException:
            self.stop()
            raise

    def start_worker(self) -> subprocess.Popen:
        self.worker_starts += 1
        worker = start_worker(self.stack, log_path=self.base / f"worker-{self.worker_starts}.log")
        self.workers.append(worker)
        return worker

    def kill_workers(self) -> None:
        for worker in self.workers:
            kill_worker(worker, signal.SIGKILL)
        self.workers.clear()

    def runs_in_flight(self) -> set[str]:
        return {row[0] for row in self.stack.sql("SELECT id::text FROM inquiries_run WHERE status = 'running' "
                                                 "AND lease_expires_at > now()")}

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.stack.url}/health/ready", timeout=3).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the product did not become ready again")

    def secrets_in_logs(self) -> list[str]:
        """Log files of the web tier and the workers that contain a key, the signing secret or the
        database password (what the outages above made them log included)."""
        secrets = [self.stack.WEBHOOK_KEY, self.stack.ADMIN_KEY, SECRET, SECRET.removeprefix("whsec_"),
                   self.stack.pg.password]
        logs = {log.name: log.read_text(errors="replace") for log in sorted(self.base.glob("*.log"))}
        return [f"{name}: {secret[:6]}…" for name, text in logs.items() for secret in secrets if secret in text]

    def stop(self) -> None:
        for worker in self.workers:
            kill_worker(worker, signal.SIGTERM)
        self.stack.stop()
        self.fake.stop()


# --- Faults: each injects, holds, restores, and returns the outage window ------------------------

@dataclass
class Context:
    product: Product
    config: Config
    integrator: Integrator
    extra_checks: list[tuple[str, bool]] = field(default_factory=list)
    # Runs a fault hit (in flight when a worker died), whenever they were sent: checked as well.
    hit: set[str] = field(default_factory=set)
    # Promises on when runs end: (label, run ids, since (epoch s), at most seconds after it).
    deadlines: list[tuple[str, set[str], float, float]] = field(default_factory=list)


def _outage(ctx: Context, stop, restore, *, full: float, short: float) -> tuple[float, float]:
    """`stop()`, hold the fault for its length, `restore()`; the window the fault was in force."""
    stop()
    began = time.time()
    time.sleep(ctx.config.seconds(full, short))
    ended = time.time()
    restore()
    return began, ended


def redis_down(ctx: Context) -> tuple[float, float]:
    redis = ctx.product.stack.redis
    return _outage(ctx, redis.stop, redis.start, full=30, short=8)


def postgres_down(ctx: Context) -> tuple[float, float]:
    pg = ctx.product.stack.pg
    window = _outage(ctx, pg.stop, pg.start, full=10, short=6)
    ctx.deadlines.append(("every run of the fault terminal after PostgreSQL restarted", set(), window[1],
                          ctx.config.after_postgres))
    ctx.product.wait_ready()
    return window


def _kill_mid_run(ctx: Context) -> bool:
    deadline = time.monotonic() + 15
    while not ctx.product.runs_in_flight() and time.monotonic() < deadline:
        time.sleep(0.1)
    ctx.product.kill_workers()
    killed = time.time()
    hit = ctx.product.runs_in_flight()
    ctx.hit |= hit
    if hit:
        ctx.deadlines.append(("the runs cut by a SIGKILL terminal after it", hit, killed, ctx.config.after_kill))
    return bool(hit)


def worker_kill(ctx: Context) -> tuple[float, float]:
    began = time.time()
    hits = 0
    for _ in range(int(ctx.config.seconds(4, 2))):
        hits += _kill_mid_run(ctx)
        time.sleep(1)
        ctx.product.start_worker()
        time.sleep(ctx.config.seconds(8, 4))
    ctx.extra_checks.append((f"SIGKILL hit runs mid-run ({hits} kills with runs in flight)", hits > 0))
    return began, time.time()


def crash_loop(ctx: Context) -> tuple[float, float]:
    began = time.time()
    until = time.monotonic() + ctx.config.seconds(60, 20)
    while time.monotonic() < until:
        ctx.product.start_worker()
        time.sleep(4)  # long enough to take runs, too short for django-q2's scheduler to run the reaper
        ctx.product.kill_workers()
        ctx.hit |= ctx.product.runs_in_flight()
    ended = time.time()
    ctx.product.start_worker()
    return began, ended


def _ollama(mode: str, delay: float | None = None):
    def inject(ctx: Context) -> tuple[float, float]:
        fake = ctx.product.fake
        return _outage(ctx, lambda: fake.set_mode(mode, delay), lambda: fake.set_mode("slow", ctx.config.model_delay),
                       full=20, short=6)
    return inject


def ollama_down(ctx: Context) -> tuple[float, float]:
    return _outage(ctx, ctx.product.fake.stop, ctx.product.fake.start, full=20, short=6)


def duplicate_storm(ctx: Context) -> tuple[float, float]:
    began = time.time()
    integrator = ctx.integrator
    for storm in range(int(ctx.config.seconds(5, 2))):
        key = f"storm-{uuid.uuid4()}"
        body = json.dumps(inquiry(1000 + storm)).encode()
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda _, k=key, b=body: integrator.post(k, b, fault="duplicate_storm"), range(50)))
        run_ids = {a.run_id for a in answers if a.status == 200}
        statuses = Counter(a.status for a in answers)
        ctx.extra_checks.append((f"storm {storm + 1}: 50 concurrent requests, one run ({dict(statuses)})",
                                 len(run_ids) == 1 and set(statuses) <= {200, 409}))
        signed_at = time.time()
        again = integrator.post(key, body, fault="duplicate_storm", signed_at=signed_at)
        ctx.extra_checks.append(("replay inside the tolerance: 200 and the same run",
                                 again.status == 200 and again.run_id in run_ids))
        stale = integrator.post(f"stale-{uuid.uuid4()}", body, fault="duplicate_storm", signed_at=signed_at - 360)
        ctx.extra_checks.append(("signed 6 minutes ago (outside the tolerance): 401", stale.status == 401))
    return began, time.time()


FAULTS = {
    "redis_down": redis_down,
    "postgres_down": postgres_down,
    "worker_kill": worker_kill,
    "crash_loop": crash_loop,
    "ollama_down": ollama_down,
    "ollama_slow": _ollama("slow", 3.0),
    "ollama_503": _ollama("503"),
    "ollama_invalid": _ollama("invalid_json"),
    "duplicate_storm": duplicate_storm,
}


# --- Invariants -----------------------------------------------------------------------------------

@dataclass
class Row:
    fault: str
    sent: int = 0
    accepted: int = 0
    retryable: int = 0
    refused: int = 0
    lost: int = 0
    stuck: int = 0
    dup: int = 0
    audit: int = 0
    health: int = 0
    terminal_s: float = 0.0
    outcomes: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    slowest: str = ""  # the event log of the fault's slowest run, seconds after its webhook

    @property
    def ok(self) -> bool:
        return not (self.lost or self.stuck or self.dup or self.audit or self.health) and all(
            ok for _, ok in self.checks)


RUN_FACTS = """
SELECT r.id::text, r.status, r.attempts, r.started_at IS NOT NULL,
       extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at),
       (SELECT count(*) FROM inquiries_runstep s WHERE s.run_id = r.id),
       (SELECT count(DISTINCT s.node) FROM inquiries_runstep s WHERE s.run_id = r.id),
       (SELECT count(*) FROM inquiries_outboundemail e WHERE e.run_id = r.id AND e.kind = 'reply'),
       coalesce((SELECT array_agg(v.type) FROM inquiries_runevent v WHERE v.run_id = r.id), '{}'),
       (SELECT string_agg(e.reason->>'rule', '+' ORDER BY e.n)
        FROM jsonb_array_elements(r.escalation_reasons) WITH ORDINALITY AS e(reason, n)), r.error_code
FROM inquiries_run r WHERE r.id = ANY(%s::uuid[])
"""
TERMINAL_EVENT = {"completed": "completed", "escalated": "escalated", "error": "failed"}


def _wait_terminal(product: Product, run_ids: list[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        left = product.stack.sql("SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[]) "
                                 "AND status = 'running'", [run_ids])[0][0]
        if left == 0:
            return
        time.sleep(1)


def check(fault: str, ctx: Context, probe: HealthProbe, outage: tuple[float, float]) -> Row:
    attempts = ctx.integrator.attempts(fault)
    row = Row(fault, sent=len(attempts))
    answered: dict[str, set[str]] = {}
    for attempt in attempts:
        if attempt.status == 200:
            answered.setdefault(attempt.key, set()).add(attempt.run_id)
        elif attempt.status is None or attempt.status in RETRYABLE:
            row.retryable += 1
        else:
            row.refused += 1
    row.accepted = len(answered)
    duplicated_keys = [key for key, ids in answered.items() if len(ids) > 1]
    run_ids = sorted({run_id for ids in answered.values() for run_id in ids} | ctx.hit)

    _wait_terminal(ctx.product, run_ids, time.monotonic() + ctx.config.terminal_bound)
    facts = {r[0]: r for r in ctx.product.stack.sql(RUN_FACTS, [run_ids])} if run_ids else {}
    row.lost = len(set(run_ids) - set(facts))
    outcomes: Counter = Counter()
    for run_id, status, attempts_made, started, seconds, steps, nodes, emails, events, rules, _ in facts.values():
        outcomes[f"{status}({rules})" if rules else status] += 1
        if status not in TERMINAL:
            row.stuck += 1
            row.problems.append(f"stuck {run_id} after {seconds:.0f}s")
            continue
        row.terminal_s = max(row.terminal_s, round(float(seconds), 1))
        if steps != nodes or emails > 1 or attempts_made > ctx.config.max_attempts:
            row.dup += 1
            row.problems.append(f"duplicate effects in {run_id}: {steps} steps, {nodes} nodes, {emails} e-mails, "
                                f"{attempts_made} attempts")
        seen = Counter(events)
        wanted = {"received", "queued", TERMINAL_EVENT[status]} | ({"started"} if started else set())
        if not wanted <= set(seen) or seen["step"] != steps:
            row.audit += 1
            row.problems.append(f"audit gap in {run_id}: wanted {sorted(wanted)} and {steps} step events, "
                                f"has {dict(seen)}")
    terminal = [(float(f[4]), run_id) for run_id, f in facts.items() if f[1] in TERMINAL]
    if terminal:
        _, slowest = max(terminal)
        row.slowest = f"{slowest}: " + ", ".join(f"{kind} {offset:.0f}s" for kind, offset in ctx.product.stack.sql(
            "SELECT v.type, extract(epoch FROM v.created_at - r.created_at) FROM inquiries_runevent v "
            "JOIN inquiries_run r ON r.id = v.run_id WHERE v.run_id = %s ORDER BY v.id", [slowest]))
    row.dup += len(duplicated_keys)
    row.problems += [f"webhook-id {key} answered with {len(answered[key])} run ids" for key in duplicated_keys]
    row.outcomes = dict(outcomes)
    row.health = len(probe.failures(fault))
    if row.health:
        row.problems.append(f"/health not answered {row.health} times: {Counter(probe.failures(fault))}")
    row.checks = list(ctx.extra_checks) + expectations(fault, attempts, outage, facts, ctx.hit)
    row.checks += deadlines_kept(ctx, run_ids)
    return row


def deadlines_kept(ctx: Context, fault_runs: list[str]) -> list:
    """Each promise of the fault: its runs (all of the fault's when none are named) ended within
    the bound after the moment it counts from."""
    checks = []
    for label, named, since, limit in ctx.deadlines:
        ids = sorted(named or set(fault_runs))
        if not ids:
            continue
        ended = ctx.product.stack.sql(
            "SELECT max(extract(epoch FROM coalesce(finished_at, now())) - %s), count(*) FILTER "
            "(WHERE finished_at IS NULL) FROM inquiries_run WHERE id = ANY(%s::uuid[])", [since, ids])[0]
        slowest, open_runs = float(ended[0] or 0), ended[1]
        checks.append((f"{label}: {len(ids)} runs, the last {slowest:.1f} s after (at most {limit:.0f} s)",
                       open_runs == 0 and slowest <= limit))
    return checks


def expectations(fault: str, attempts: list[Attempt], outage: tuple[float, float], facts: dict,
                 hit: set[str]) -> list:
    """What each fault must show besides the invariants (the "expected" column of docs/reliability.md)."""
    began, ended = outage
    during = [a for a in attempts if a.sent_at >= began + 1 and a.answered_at <= ended]
    statuses = Counter(a.status for a in during)
    if fault == "redis_down":
        return [(f"intake answered 200 throughout the Redis outage ({dict(statuses)})",
                 bool(during) and set(statuses) == {200})]
    if fault == "postgres_down":
        honest = all(a.status == 503 and a.retry_after for a in during if a.status is not None)
        return [(f"503 + Retry-After (never 2xx) while PostgreSQL was down ({dict(statuses)})",
                 bool(during) and honest and statuses[503] > 0)]
    if fault in ("worker_kill", "crash_loop"):
        cut = [facts[run_id] for run_id in hit if run_id in facts]
        ended = Counter(f[1] if f[1] != "error" else f"error({f[10]})" for f in cut)
        most = max((f[2] for f in cut), default=0)
        return [(f"the {len(cut)} runs cut by a kill ended ({dict(ended)}), on at most {most} attempts",
                 bool(cut) and all(f[1] in TERMINAL and f[2] > 1 for f in cut))]
    if fault.startswith("ollama"):
        errors = sum(1 for f in facts.values() if f[1] == "error")
        return [(f"every run ended completed or escalated by the policy, none in error ({errors})", errors == 0)]
    return []


# --- The suite -----------------------------------------------------------------------------------

def run_suite(config: Config, faults: list[str], out=sys.stdout) -> list[Row]:
    base = scratch_base()
    try:
        product = Product(base, config)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    rows: list[Row] = []
    try:
        integrator = Integrator(product.stack.url, product.stack.WEBHOOK_KEY, config.give_up)
        stream, probe = Stream(integrator, config.rate), HealthProbe(product.stack.url)
        stream.start()
        probe.start()
        time.sleep(config.seconds(10, 5))  # steady state before the first fault
        for name in faults:
            ctx = Context(product, config, integrator)
            stream.fault = probe.fault = name
            print(f"[chaos] {name} ...", file=out, flush=True)
            time.sleep(2)
            outage = FAULTS[name](ctx)
            time.sleep(config.seconds(5, 2))  # traffic after the restore counts to the fault too
            stream.fault = probe.fault = f"after {name}"
            stream.settle(name)
            rows.append(check(name, ctx, probe, outage))
            print(format_row(rows[-1]), file=out, flush=True)
        stream.stop()
        probe.stop()
        if rows:
            leaks = product.secrets_in_logs()
            rows[-1].checks.append((f"after every fault: no key, signing secret or database password in the web "
                                    f"and worker logs {leaks or ''}", not leaks))
    finally:
        product.stop()
        if all(row.ok for row in rows):
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"[chaos] logs kept in {base}", file=out)
    return rows


COLUMNS = ("fault", "sent", "accepted", "retryable", "refused", "lost", "stuck", "dup", "audit", "health",
           "terminal_s")


def format_row(row: Row) -> str:
    cells = [row.fault.ljust(16)] + [str(getattr(row, c)).rjust(len(c)) for c in COLUMNS[1:-1]]
    return "  ".join(cells + [f"{row.terminal_s:10.1f}", json.dumps(row.outcomes)])


def report(rows: list[Row], config: Config) -> str:
    lines = [
        f"chaos suite ({'short' if config.short else 'full'}): {config.rate}/s signed inquiries, "
        f"terminal bound {config.terminal_bound:.0f} s after each fault",
        "  ".join([COLUMNS[0].ljust(16), *COLUMNS[1:]]) + "  outcomes",
        *(format_row(row) for row in rows), "",
    ]
    for row in rows:
        for label, ok in row.checks:
            lines.append(f"{'ok  ' if ok else 'FAIL'} {row.fault}: {label}")
        lines += [f"FAIL {row.fault}: {problem}" for problem in row.problems[:10]]
    lines += [f"slowest run of {row.fault}: {row.slowest}" for row in rows if row.slowest]
    lines.append(json.dumps({"ok": all(r.ok for r in rows), "rows": [
        {c: getattr(r, c) for c in COLUMNS} | {"outcomes": r.outcomes} for r in rows]}))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="shorter faults, as `make test` runs them")
    parser.add_argument("--only", default="", help="comma-separated fault names")
    parser.add_argument("--rate", type=float, default=None, help="inquiries per second (default 2, short 1.5)")
    args = parser.parse_args(argv)
    faults = [f for f in args.only.split(",") if f] or list(FAULTS)
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    config = Config(short=args.short, rate=args.rate or (1.5 if args.short else 2.0))
    rows = run_suite(config, faults)
    print(report(rows, config))
    return 0 if rows and all(row.ok for row in rows) else 1
