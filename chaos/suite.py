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

The parts: chaos/config.py (settings), chaos/integrator.py (traffic), chaos/product.py (the
processes), chaos/faults.py, chaos/checks.py (invariants and the report).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

from chaos.checks import Row, check
from chaos.config import Config
from chaos.faults import FAULTS, Context
from chaos.integrator import HealthProbe, Integrator, Stream
from chaos.product import Product
from scripts.services import scratch_base

__all__ = ["COLUMNS", "FAULTS", "Config", "Row", "format_row", "main", "report", "run_suite"]


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
