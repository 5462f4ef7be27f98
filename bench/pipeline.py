"""The runner: webhook → terminal state, throughput, runs in flight, worker memory, and the
orchestration overhead per run.

    .venv/bin/python -m bench.pipeline                              # everything, `make run` defaults
    .venv/bin/python -m bench.pipeline --only drain,burst --drain 1000
    .venv/bin/python -m bench.pipeline --backend builtin --only paced

The script starts PostgreSQL, Redis, the web tier and one worker cluster (`manage.py runcluster`,
Q_WORKERS processes × RUN_CONCURRENCY runs, as `make run` does), plus the fake Ollama as its own
process at the workers' CPU priority (a local model server competes for the CPU like a worker).
Everything shares the machine, the load generator included. Then:
- paced: `--paced` inquiries at `--rate`/s. Latency is finished_at − created_at of each run: from
  the webhook's commit to the terminal state. Pick-up is started_at − created_at: from the commit
  to the worker's claim (the NOTIFY wake-up).
- drain: `--drain` inquiries sent as fast as the webhook takes them, the model answering at once;
  completions/s = runs / (first send → last run terminal). lost = run ids answered 200 that are not
  in the database; stuck = not terminal after the timeout.
- burst: `--burst` inquiries at once with the model taking `--model-seconds` per call: the time
  until all are terminal, the most runs in flight at once, and the worker cluster's memory (PSS,
  shared pages counted once per process tree) while they are in flight.
- overhead: with the cluster stopped, `run_execute` in this process on an engine stub that
  answers at once: the workflow's own cost per run (graph, checkpoints, step rows, events, Redis).
- classifier: the built-in classifier in a fresh process, before anything else starts: its
  training at a worker's start-up (imports excluded), then `builtin.classify` per inquiry after
  warm-up, on the held-out inquiries (tests/data/) and the B2B file's test fifth (e-mails).
  `--only classifier` needs no stack.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import aiohttp

from scripts.stack import Stack
from testutils.fake_ollama import FakeOllamaProcess
from testutils.inquiries import sample_inquiry
from testutils.memory import pss_mb

KEY = "bench_pipeline_key_0123456789abcdef"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def submit(session, url: str, n: int) -> str | None:
    headers = {"X-API-Key": KEY, "Idempotency-Key": str(uuid.uuid4())}
    for _ in range(20):
        try:
            async with session.post(f"{url}/api/v1/webhook", json=sample_inquiry(n), headers=headers) as response:
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


def start_stack(backend: str, ollama_url: str, extra_env: dict[str, str]) -> Stack:
    """PostgreSQL, Redis, migrated, the demo data, the web tier and one worker cluster."""
    stack = Stack({**os.environ, "DJANGO_SETTINGS_MODULE": "autoflow.settings", "WEBHOOK_API_KEY": KEY,
                   "WEBHOOK_RATE_LIMIT": "1000000/m", "READ_RATE_LIMIT": "1000000/m", "LOG_LEVEL": "WARNING", "LLM_BACKEND": backend,
                   "OLLAMA_BASE_URL": ollama_url, "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
                   **extra_env}).start()
    try:
        stack.manage("load_demo_data", quiet=True)
        stack.start_web(quiet=True)
        stack.start_worker(quiet=True)
    except BaseException:
        stack.stop()
        raise
    return stack


def wait_terminal(stack: Stack, ids: list[str], timeout: float) -> tuple[float, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (running,) = stack.sql("SELECT count(*) FROM inquiries_run WHERE status = 'running' AND id = ANY(%s)",
                               [ids])[0]
        if running == 0:
            return time.monotonic(), 0
        time.sleep(0.05)
    return time.monotonic(), running


def report_runs(stack: Stack, title: str, ids: list[str | None], started: float, timeout: float) -> dict:
    accepted = [i for i in ids if i]
    finished, stuck = wait_terminal(stack, accepted, timeout)
    elapsed = finished - started
    found = {str(r[0]) for r in stack.sql("SELECT id FROM inquiries_run WHERE id = ANY(%s)", [accepted])}
    statuses = dict(stack.sql("SELECT CASE WHEN status = 'escalated' THEN status || ':' || "
                              "coalesce(escalation_reasons->0->>'rule', '') ELSE status END, count(*) FROM inquiries_run "
                              "WHERE id = ANY(%s) GROUP BY 1", [accepted]))
    rows = stack.sql("SELECT extract(epoch FROM finished_at - created_at) * 1000, "
                     "extract(epoch FROM started_at - created_at) * 1000 FROM inquiries_run "
                     "WHERE id = ANY(%s) AND finished_at IS NOT NULL", [accepted])
    latency, pickup = [float(r[0]) for r in rows], [float(r[1]) for r in rows]
    dup = stack.sql("SELECT count(*) FROM (SELECT run_id, key FROM inquiries_runstep WHERE run_id = ANY(%s) "
                    "GROUP BY run_id, key HAVING count(*) > 1) d", [accepted])[0][0]
    mails = stack.sql("SELECT count(*) FROM (SELECT run_id FROM inquiries_outboundemail WHERE run_id = ANY(%s) "
                      "GROUP BY run_id HAVING count(*) > 1) d", [accepted])[0][0]
    result = {"title": title, "sent": len(ids), "accepted": len(accepted), "lost": len(set(accepted) - found),
              "stuck": stuck, "duplicate_steps": dup, "duplicate_emails": mails, "statuses": statuses,
              "seconds": round(elapsed, 2), "completions_per_s": round(len(accepted) / elapsed, 1),
              "latency_ms": {"p50": round(pct(latency, 50)), "p95": round(pct(latency, 95)),
                             "max": round(max(latency, default=0))},
              "pickup_ms": {"p50": round(pct(pickup, 50), 1), "p95": round(pct(pickup, 95), 1)}}
    print(f"\n== {title}")
    print(f"   sent {len(ids)}, accepted {len(accepted)}, lost {result['lost']}, stuck {stuck}, "
          f"duplicate steps {dup}, duplicate e-mails {mails}; statuses {statuses}")
    print(f"   {len(accepted)} runs terminal in {elapsed:.1f} s -> {result['completions_per_s']} completions/s")
    print(f"   webhook->terminal ms: p50 {result['latency_ms']['p50']}  p95 {result['latency_ms']['p95']}  "
          f"max {result['latency_ms']['max']};  commit->claim ms: p50 {result['pickup_ms']['p50']}  "
          f"p95 {result['pickup_ms']['p95']}")
    return result


class InFlight:
    """Samples the runs in flight (claimed, not ended) and the cluster's PSS while a burst drains."""

    def __init__(self, stack: Stack):
        self.stack, self.most, self.pss, self._stop = stack, 0, 0.0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            (n,) = self.stack.sql("SELECT count(*) FROM inquiries_run WHERE status = 'running' "
                                  "AND lease_owner <> ''")[0]
            if n >= self.most:
                self.most = n
                self.pss = max(self.pss, pss_mb(self.stack.workers[0].pid))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join()


def overhead(stack: Stack, runs: int) -> dict:
    """run_execute in this process with an engine stub that answers at once (no model time)."""
    os.environ.update({k: v for k, v in stack.env.items() if k in ("DATABASE_URL", "REDIS_URL", "LLM_BACKEND", "LOG_LEVEL",
                                                                   "EMAIL_BACKEND", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()
    from inquiries import services
    from orchestration import tasks
    from orchestration.engines import builtin, engine

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
    caller = services.Caller(identity="bench", label="bench", ip="127.0.0.1")
    timings = []
    for n in range(runs + 10):
        data = sample_inquiry(n)
        acceptance = services.inquiry_accept(data=data, raw_payload=data, caller=caller, idempotency_key=None,
                                             fingerprint="x")
        started = time.perf_counter()
        assert tasks.run_execute(str(acceptance.run_id)) == "completed"
        if n >= 10:  # the first runs warm caches, connections and prepared statements
            timings.append((time.perf_counter() - started) * 1000)
    result = {"runs": runs, "mean_ms": round(statistics.mean(timings), 1), "p50_ms": round(pct(timings, 50), 1),
              "p95_ms": round(pct(timings, 95), 1)}
    print(f"\n== orchestration overhead per run, no model time ({runs} runs, 4 steps each)")
    print(f"   mean {result['mean_ms']} ms  p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  (target <= 25 ms)")
    return result


# Runs in a fresh interpreter: a worker's start-up is what is measured, and this process must not
# set Django up before `overhead` does (with the stack's settings).
_CLASSIFIER_PROBE = """
import json, os, statistics, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")
import django
django.setup()
from orchestration.analysis import entities, language, sentiment
from orchestration.engines import builtin, classifier
import sklearn.linear_model, sklearn.feature_extraction.text, lingua, vaderSentiment  # imports are not training
started = time.perf_counter()
builtin.get_classifier()
training = time.perf_counter() - started
started = time.perf_counter()
language.warm_up()
sentiment.analyzer()
detector = time.perf_counter() - started
products = [("Starter", []), ("Growth", []), ("Enterprise", []), ("REST API", ["API"]), ("Salesforce", []),
            ("HubSpot", [])]  # the demo's product names (inquiries/demo_data.py), without a database

def triage(subject, body):
    builtin.classify(subject, body)
    text = subject + "\\n" + body
    code = language.detect_language(text).code
    sentiment.sentiment_of(text, code or "en")
    entities.extract_entities(subject, body, products=products)

texts = [(e.subject, e.body) for e in classifier.read_examples("tests/data/holdout_inquiries.jsonl")]
texts += [(e.subject, e.body) for e in classifier.read_examples(classifier.DATA_DIR / "inquiries_b2b.jsonl", split="test")]
for subject, body in texts[:20]:
    triage(subject, body)  # warm-up
figures = {}
for name, fn in (("classify", builtin.classify), ("triage", triage)):
    timings = []
    for _ in range(3):
        for subject, body in texts:
            started = time.perf_counter()
            fn(subject, body)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    figures[name] = {"mean_ms": round(statistics.mean(timings), 2), "p50_ms": round(timings[len(timings) // 2], 2),
                     "p95_ms": round(timings[int(len(timings) * 0.95)], 2), "max_ms": round(timings[-1], 2)}
print(json.dumps({"training_s": round(training, 2), "detector_s": round(detector, 2), "inquiries": len(texts),
                  **figures["classify"], "triage": figures["triage"]}))
"""


def classifier_speed() -> dict:
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", _CLASSIFIER_PROBE], cwd=repo, capture_output=True, text=True,
                         check=True, env={**os.environ, "LOG_LEVEL": "WARNING"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print("\n== built-in classifier, fresh process")
    triage = result["triage"]
    print(f"   start-up: training {result['training_s']} s + language detector and sentiment lexicon "
          f"{result['detector_s']} s (target <= 10 s)")
    print(f"   per inquiry after warm-up ({result['inquiries']} inquiries x 3): classify mean {result['mean_ms']} ms "
          f"p95 {result['p95_ms']} ms max {result['max_ms']} ms; classify + language + sentiment + entities "
          f"mean {triage['mean_ms']} ms  p50 {triage['p50_ms']} ms  p95 {triage['p95_ms']} ms  max {triage['max_ms']} ms"
          " (target <= 20 ms)")
    return result


SCENARIOS = ("classifier", "paced", "drain", "burst", "overhead")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["builtin", "ollama"], default="ollama",
                        help="ollama: the fake Ollama server (default); builtin: the built-in engine")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--paced", type=int, default=400, help="inquiries sent at --rate for latency")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--drain", type=int, default=1000, help="inquiries sent at once, then drained")
    parser.add_argument("--burst", type=int, default=100, help="inquiries at once with a slow model")
    parser.add_argument("--model-seconds", type=float, default=1.0, help="each model call of the burst")
    parser.add_argument("--overhead-runs", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a drain")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    chosen = [s for s in args.only.split(",") if s]

    results: dict = {"cpus": os.cpu_count(), "backend": args.backend}
    if "classifier" in chosen:
        results["classifier"] = classifier_speed()
        if chosen == ["classifier"]:  # no stack needed
            print(json.dumps(results))
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2))
            return 0
    base = Path(__import__("tempfile").mkdtemp(prefix="autoflow-bench-"))
    fake = FakeOllamaProcess(base, mode="ok")
    fake.start()
    stack = None
    try:
        os.setpriority(os.PRIO_PROCESS, fake.proc.pid, 10)  # a local model server: the workers' priority
        stack = start_stack(args.backend, fake.url, {})
        print(f"##### engine {args.backend}, {os.cpu_count()} CPUs, worker cluster with make run's defaults")
        ids = asyncio.run(send_fast(stack.url, 8))  # warm the workers (pools, prepared statements)
        wait_terminal(stack, [i for i in ids if i], 120)
        if "paced" in chosen:
            started = time.monotonic()
            ids = asyncio.run(send_paced(stack.url, args.paced, args.rate))
            results["paced"] = report_runs(stack, f"{args.paced} inquiries at {args.rate:g}/s", ids, started,
                                           args.timeout)
        if "drain" in chosen:
            started = time.monotonic()
            ids = asyncio.run(send_fast(stack.url, args.drain))
            sent = time.monotonic() - started
            results["drain"] = report_runs(stack, f"drain of {args.drain} inquiries, model at 0 ms "
                                                  f"(sent in {sent:.1f} s)", ids, started, args.timeout)
        if "burst" in chosen and args.backend == "ollama":
            fake.set_mode("slow", args.model_seconds)
            with InFlight(stack) as sampler:
                started = time.monotonic()
                ids = asyncio.run(send_fast(stack.url, args.burst, concurrency=args.burst))
                result = report_runs(stack, f"burst of {args.burst} inquiries at once, model at "
                                            f"{args.model_seconds:g} s per call", ids, started, args.timeout)
            result.update(most_in_flight=sampler.most, worker_pss_mb=round(sampler.pss, 1))
            results["burst"] = result
            print(f"   drained in {result['seconds']} s; most runs in flight {sampler.most}; "
                  f"worker cluster PSS {sampler.pss:.0f} MB")
            fake.set_mode("ok", 0.0)
        if "overhead" in chosen:
            stack.stop_workers()
            results["overhead"] = overhead(stack, args.overhead_runs)
    finally:
        if stack is not None:
            stack.stop()
        fake.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
