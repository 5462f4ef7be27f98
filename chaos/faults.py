"""The faults of the chaos suite: each injects, holds, restores, and returns the outage window
(the list is in chaos/suite.py's docstring and docs/reliability.md)."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from chaos.config import Config
from chaos.integrator import Integrator, inquiry
from chaos.product import Product


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
    boots = []
    while time.monotonic() < until:
        started = time.monotonic()
        dead_owners = ctx.product.lease_owners()  # the killed workers' runs keep their lease a while
        ctx.product.start_worker()
        # Die once the new worker holds runs (its boot takes seconds, more on a loaded machine), or
        # after 15 s without any: either way before django-q2's scheduler could run the reaper.
        while ctx.product.lease_owners() <= dead_owners and time.monotonic() - started < 15:
            time.sleep(0.1)
        boots.append(time.monotonic() - started)
        time.sleep(1)
        ctx.product.kill_workers()
        ctx.hit |= ctx.product.runs_in_flight()
    ended = time.time()
    ctx.extra_checks.append((f"each of the {len(boots)} workers was killed soon after it took runs "
                             f"(at {', '.join(f'{b:.1f}' for b in boots)} s)", bool(ctx.hit)))
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
