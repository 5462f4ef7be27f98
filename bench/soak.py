"""Soak: the whole product at a steady rate for a long time, with a slow model.

    .venv/bin/python -m bench.soak                       # 10 minutes at 1 inquiry/s, 0.5 s per model call
    .venv/bin/python -m bench.soak --minutes 2 --rate 2

The product runs as the chaos suite starts it (chaos/product.py: PostgreSQL, Redis, web tier,
one worker cluster, the fake Ollama with `--model-delay` seconds per call) and the same signed,
retrying integrator (chaos/integrator.py) sends the stream. Every `--every` seconds it prints: inquiries accepted, the django-q2 queue depth, runs
in flight, runs finished in the interval with their latency (webhook commit → terminal state)
p50/p95, and the proportional memory (PSS) of the web tier (nginx, gunicorn, daphne with their
children) and of the worker cluster's process tree. At the end: latency percentiles over the whole soak,
the memory growth from the first sample after warm-up to the last, and lost / stuck counts
(accepted run ids missing from the database / not terminal two minutes after the stream stops).
"""

import argparse
import os
import shutil
import statistics
import sys
import time

from bench.pipeline import pct
from chaos.config import Config
from chaos.integrator import Integrator, Stream
from chaos.product import Product
from scripts.services import scratch_base
from testutils.memory import tree_pss_mb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=1.0, help="inquiries per second")
    parser.add_argument("--model-delay", type=float, default=0.5, help="seconds per fake model call")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS (worker processes)")
    parser.add_argument("--every", type=float, default=30, help="seconds between samples")
    args = parser.parse_args(argv)

    config = Config(rate=args.rate, model_delay=args.model_delay, workers=args.workers)
    base = scratch_base()
    product = Product(base, config)
    try:
        integrator = Integrator(product.stack.url, product.stack.WEBHOOK_KEY, config.give_up)
        stream = Stream(integrator, config.rate)
        stream.fault = "soak"
        web_roots = [p.pid for p in product.stack.web.processes.values()]
        print(f"soak: {args.minutes:g} min at {args.rate:g}/s, fake model {args.model_delay:g} s per call, "
              f"Q_WORKERS={args.workers}, {os.cpu_count()} CPUs")
        print(f"{'t_s':>5} {'accepted':>8} {'queue':>5} {'running':>7} {'done':>5} {'p50_ms':>7} {'p95_ms':>7} "
              f"{'web_MB':>7} {'worker_MB':>9}")
        stream.start()
        started, last = time.monotonic(), time.time() - 1
        samples: list[tuple[float, float, float]] = []
        latencies: list[float] = []
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(args.every)
            now = time.time()
            queue = product.stack.sql("SELECT count(*) FROM django_q_ormq")[0][0]
            running = product.stack.sql("SELECT count(*) FROM inquiries_run WHERE status = 'running'")[0][0]
            done = [float(r[0]) * 1000 for r in product.stack.sql(
                "SELECT extract(epoch FROM finished_at - created_at) FROM inquiries_run "
                "WHERE finished_at >= to_timestamp(%s) AND finished_at < to_timestamp(%s)", [last, now])]
            last = now
            latencies += done
            web, worker = tree_pss_mb(web_roots), tree_pss_mb([w.pid for w in product.workers])
            samples.append((time.monotonic() - started, web, worker))
            accepted = len({a.key for a in integrator.attempts("soak") if a.status == 200})
            print(f"{samples[-1][0]:5.0f} {accepted:8d} {queue:5d} {running:7d} {len(done):5d} {pct(done, 50):7.0f} "
                  f"{pct(done, 95):7.0f} {web:7.1f} {worker:9.1f}", flush=True)
        stream.stop()
        run_ids = sorted({a.run_id for a in integrator.attempts("soak") if a.status == 200})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and product.stack.sql(
                "SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[]) AND status = 'running'", [run_ids])[0][0]:
            time.sleep(1)
        stored = dict(product.stack.sql("SELECT id::text, status FROM inquiries_run WHERE id = ANY(%s::uuid[])",
                                        [run_ids]))
        lost = len(set(run_ids) - set(stored))
        stuck = sum(1 for status in stored.values() if status == "running")
        warm = [s for s in samples if s[0] >= 60] or samples
        print(f"\naccepted {len(run_ids)}, lost {lost}, stuck {stuck}; latency p50 {pct(latencies, 50):.0f} ms, "
              f"p95 {pct(latencies, 95):.0f} ms, p99 {pct(latencies, 99):.0f} ms over {len(latencies)} runs")
        for name, index in (("web", 1), ("worker", 2)):
            first, final = warm[0][index], warm[-1][index]
            spread = statistics.pstdev([s[index] for s in warm]) if len(warm) > 1 else 0.0
            print(f"{name} PSS: {first:.1f} MB after warm-up -> {final:.1f} MB at the end "
                  f"({(final - first) / first * 100 if first else 0:+.1f}%, stdev {spread:.1f} MB)")
        return 0 if lost == 0 and stuck == 0 else 1
    finally:
        product.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
