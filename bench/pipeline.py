"""Webhook → terminal state: latency, completions per second, a 1,000-inquiry drain, and the
orchestration overhead per run without any model time.

    .venv/bin/python -m bench.pipeline                          # everything, both engines
    .venv/bin/python -m bench.pipeline --backend builtin --paced 60 --drain 1000

For each engine (the built-in one, and Ollama played by the fake server with zero latency) the
script starts PostgreSQL, Redis, the web tier and one `qcluster` (Q_WORKERS processes) as
`make run` does, then:
- paced: inquiries at a rate the worker keeps up with; latency = run.finished_at - created_at
  (webhook commit to terminal state), so it includes the queue pick-up (ORM broker poll 0.2 s);
- drain: `--drain` inquiries sent as fast as the webhook takes them, then the time until every
  run is terminal; lost = run ids answered 200 that are not in the database; stuck = not terminal
  after the timeout.
Then, with the worker stopped, `run_execute` in this process on an engine stub that answers at
once: the workflow's own cost per run (graph, checkpoints, step rows, events, Redis, channel
layer), with no model time at all.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
KEY = "bench_pipeline_key_0123456789abcdef"
SAMPLES = [json.loads(line) for line in (REPO / "tests/data/holdout_inquiries.jsonl").read_text().splitlines()]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def inquiry(n: int) -> dict:
    sample = SAMPLES[n % len(SAMPLES)]
    return {"sender_name": f"Bench {n}", "sender_email": f"bench{n}@example.com",
            "subject": sample["subject"] or "Question", "body": sample["body"]}


async def submit(session, url: str, n: int) -> str | None:
    headers = {"X-API-Key": KEY, "Idempotency-Key": str(uuid.uuid4())}
    for _ in range(20):
        try:
            async with session.post(f"{url}/api/v1/webhook", json=inquiry(n), headers=headers) as response:
                if response.status == 200:
                    return (await response.json())["run_id"]
                if response.status not in (429, 503):
                    return None
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    return None


async def send_paced(url: str, count: int, rate: float) -> list[str]:
    async with aiohttp.ClientSession() as session:
        tasks = []
        start = time.perf_counter()
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.ensure_future(submit(session, url, n)))
        return list(await asyncio.gather(*tasks))


async def send_fast(url: str, count: int, concurrency: int = 16) -> list[str]:
    queue = list(range(count))
    ids: list[str | None] = []
    async with aiohttp.ClientSession() as session:
        async def client():
            while queue:
                ids.append(await submit(session, url, 10_000 + queue.pop()))
        await asyncio.gather(*(client() for _ in range(concurrency)))
    return ids


class Stack:
    def __init__(self, backend: str, workers: int, ollama_url: str):
        from scripts.services import PostgresServer, RedisServer, free_port, scratch_base
        from scripts.web import WebStack

        self.base = scratch_base()
        self.pg = PostgresServer(self.base / "postgres", free_port())
        self.redis = RedisServer(self.base / "redis", free_port())
        self.pg.start()
        self.redis.start()
        self.env = {**os.environ, "DATABASE_URL": self.pg.url, "REDIS_URL": self.redis.url,
                    "DJANGO_SETTINGS_MODULE": "autoflow.settings", "WEBHOOK_API_KEY": KEY,
                    "WEBHOOK_RATE_LIMIT": "1000000/m", "LOG_LEVEL": "WARNING", "LLM_BACKEND": backend,
                    "OLLAMA_BASE_URL": ollama_url, "Q_WORKERS": str(workers), "EMAIL_BACKEND":
                    "django.core.mail.backends.locmem.EmailBackend"}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=self.env, check=True)
        subprocess.run([sys.executable, "manage.py", "load_demo_data"], cwd=REPO, env=self.env, check=True,
                       capture_output=True)
        self.web = WebStack(env=self.env, host="127.0.0.1", port=free_port(), run_dir=self.base / "web",
                            http_workers=2, quiet=True)
        self.web.start()
        self.url = self.web.url
        self.worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO, env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sql(self, query: str, params=()) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def wait_terminal(self, ids: list[str], timeout: float) -> tuple[float, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (running,) = self.sql("SELECT count(*) FROM inquiries_run WHERE status = 'running' AND id = ANY(%s)",
                                  [ids])[0]
            if running == 0:
                return time.monotonic(), 0
            time.sleep(0.25)
        return time.monotonic(), running

    def latencies(self, ids: list[str]) -> list[float]:
        rows = self.sql("SELECT extract(epoch FROM finished_at - created_at) FROM inquiries_run "
                        "WHERE id = ANY(%s) AND finished_at IS NOT NULL", [ids])
        return [float(r[0]) * 1000 for r in rows]

    def stop_worker(self) -> None:
        self.worker.terminate()
        try:
            self.worker.wait(60)
        except subprocess.TimeoutExpired:
            self.worker.kill()

    def stop(self) -> None:
        if self.worker.poll() is None:
            self.stop_worker()
        self.web.stop()
        self.redis.stop()
        self.pg.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def report_runs(stack: Stack, title: str, ids: list[str | None], started: float, timeout: float) -> dict:
    accepted = [i for i in ids if i]
    finished, stuck = stack.wait_terminal(accepted, timeout)
    elapsed = finished - started
    found = {str(r[0]) for r in stack.sql("SELECT id FROM inquiries_run WHERE id = ANY(%s)", [accepted])}
    lost = len(set(accepted) - found)
    statuses = dict(stack.sql("SELECT status, count(*) FROM inquiries_run WHERE id = ANY(%s) GROUP BY status",
                              [accepted]))
    latency = stack.latencies(accepted)
    dup = stack.sql("SELECT count(*) FROM (SELECT run_id, key FROM inquiries_runstep WHERE run_id = ANY(%s) "
                    "GROUP BY run_id, key HAVING count(*) > 1) d", [accepted])[0][0]
    mails = stack.sql("SELECT count(*) FROM (SELECT run_id FROM inquiries_outboundemail WHERE run_id = ANY(%s) "
                      "GROUP BY run_id HAVING count(*) > 1) d", [accepted])[0][0]
    result = {"title": title, "sent": len(ids), "accepted": len(accepted), "lost": lost, "stuck": stuck,
              "duplicate_steps": dup, "duplicate_emails": mails, "statuses": statuses,
              "seconds": round(elapsed, 2), "completions_per_s": round(len(accepted) / elapsed, 2),
              "latency_ms": {"p50": round(pct(latency, 50)), "p95": round(pct(latency, 95)),
                             "max": round(max(latency, default=0))}}
    print(f"\n== {title}")
    print(f"   sent {len(ids)}, accepted {len(accepted)}, lost {lost}, stuck {stuck}, duplicate steps {dup}, "
          f"duplicate e-mails {mails}")
    print(f"   statuses {statuses}")
    print(f"   {len(accepted)} runs terminal in {elapsed:.1f} s -> {result['completions_per_s']} completions/s")
    print(f"   webhook->terminal ms: p50 {result['latency_ms']['p50']}  p95 {result['latency_ms']['p95']}  "
          f"max {result['latency_ms']['max']}")
    return result


def overhead(stack: Stack, runs: int) -> dict:
    """run_execute in this process with an engine stub that answers at once (no model time)."""
    os.environ.update({k: v for k, v in stack.env.items() if k in ("DATABASE_URL", "REDIS_URL", "LLM_BACKEND",
                                                                   "EMAIL_BACKEND", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()
    from inquiries import services
    from orchestration import tasks
    from orchestration.llm import builtin, engine

    builtin.get_classifier()  # trained before timing
    canned = {
        "classify": builtin.classify("Free trial", "How long is the free trial?"),
        "answer_faq": builtin.FaqAnswer(answerable=True, answer="Every plan starts with a 14-day free trial."),
        "draft_reply": builtin.Reply(body="Hi,\n\nThanks.\n\nBest regards"),
    }

    class InstantEngine(engine.Engine):
        def classify(self, **kwargs):
            return engine.Outcome(canned["classify"], "builtin", "stub")

        def answer_faq(self, **kwargs):
            return engine.Outcome(canned["answer_faq"], "builtin", "stub")

        def draft_reply(self, **kwargs):
            return engine.Outcome(canned["draft_reply"], "builtin", "stub")

    tasks.Engine = InstantEngine
    caller = services.Caller(scope="bench", label="bench", ip="127.0.0.1")
    timings = []
    for n in range(runs + 5):
        data = inquiry(n)
        acceptance = services.inquiry_accept(data=data, raw_payload=data, caller=caller, idempotency_key=None,
                                             fingerprint="x")
        started = time.perf_counter()
        assert tasks.run_execute(str(acceptance.run_id)) == "completed"
        if n >= 5:  # the first runs warm caches and connections
            timings.append((time.perf_counter() - started) * 1000)
    result = {"runs": runs, "mean_ms": round(statistics.mean(timings), 1), "p50_ms": round(pct(timings, 50), 1),
              "p95_ms": round(pct(timings, 95), 1)}
    print(f"\n== orchestration overhead per run, no model time ({runs} runs, 4 steps each)")
    print(f"   mean {result['mean_ms']} ms  p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  (target <= 25 ms)")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["builtin", "ollama", "both"], default="both")
    parser.add_argument("--paced", type=int, default=60, help="inquiries sent at --rate for latency")
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--drain", type=int, default=1000, help="inquiries sent at once, then drained")
    parser.add_argument("--workers", type=int, default=2, help="qcluster worker processes")
    parser.add_argument("--overhead-runs", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a drain")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    from tests.fake_ollama import FakeOllama

    results = {"cpus": os.cpu_count(), "workers": args.workers}
    backends = ["builtin", "ollama"] if args.backend == "both" else [args.backend]
    with FakeOllama() as fake:
        for backend in backends:
            stack = Stack(backend, args.workers, fake.url)
            try:
                print(f"\n##### engine: {backend} ({'fake Ollama, zero latency' if backend == 'ollama' else 'built-in'}),"
                      f" {args.workers} worker processes, {os.cpu_count()} CPUs")
                ids = asyncio.run(send_fast(stack.url, 4))  # warm the worker (classifier training, pools)
                stack.wait_terminal([i for i in ids if i], 120)
                started = time.monotonic()
                ids = asyncio.run(send_paced(stack.url, args.paced, args.rate))
                results[f"{backend}_paced"] = report_runs(
                    stack, f"{backend}: {args.paced} inquiries at {args.rate:g}/s", ids, started, args.timeout)
                started = time.monotonic()
                ids = asyncio.run(send_fast(stack.url, args.drain))
                sent = time.monotonic() - started
                results[f"{backend}_drain"] = report_runs(
                    stack, f"{backend}: drain of {args.drain} inquiries (sent in {sent:.1f} s)", ids, started,
                    args.timeout)
                if backend == backends[-1] and args.overhead_runs:
                    stack.stop_worker()
                    results["overhead"] = overhead(stack, args.overhead_runs)
            finally:
                stack.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
