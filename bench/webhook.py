"""Webhook ack latency and throughput.

    .venv/bin/python -m bench.webhook                      # both models against a throw-away stack
    .venv/bin/python -m bench.webhook --model open --rate 100 --duration 30
    .venv/bin/python -m bench.webhook --model closed --concurrency 32 --duration 30
    .venv/bin/python -m bench.webhook --url http://127.0.0.1:8000 --key "$WEBHOOK_API_KEY"
    .venv/bin/python -m bench.webhook --with-workers --model open        # intake while workers drain

Open model: requests start on a fixed schedule (rate/s) whatever the server does; latency is
measured from each request's *scheduled* start, so a stalled server cannot hide its queueing
(no coordinated omission). Closed model: a fixed number of clients, each sending its next request
when the previous one is answered; this finds the sustainable throughput.

Every request is a distinct inquiry with its own Idempotency-Key (the full intake path: key claim,
inquiry, run, events and queued task in one transaction, then the Redis snapshot). Without --url
the script starts PostgreSQL, Redis and the web tier exactly as `make run` does (no worker: this
measures intake), with the rate limit raised out of the way.

--with-workers: intake first. Before measuring, `--backlog` inquiries are queued and the worker
cluster (`make run`'s defaults, at its lower CPU priority) is started on the same machine with the
fake Ollama answering at once (at the workers' priority, as a local model server would run), so
the workers drain the backlog at full speed while the webhook is measured. The report says how
many runs the workers finished during the measurement.
"""

import argparse
import asyncio
import collections
import json
import os
import statistics
import sys
import time
import uuid

import aiohttp

from scripts.stack import Stack
from testutils.fake_ollama import FakeOllamaProcess

KEY = "bench_webhook_key_0123456789abcdef"


def body(n: int) -> bytes:
    return json.dumps({
        "sender_name": f"Bench Sender {n}", "sender_email": f"bench{n}@example.com",
        "subject": f"Pricing question {n}",
        "body": "Hello, we are 40 people and would like to know what the Growth plan costs per year, "
                "and whether SSO is included. Could someone get back to us this week?",
        "metadata": {"source": "bench", "n": n},
    }).encode()


class Recorder:
    def __init__(self):
        self.latencies: list[float] = []
        self.statuses: collections.Counter = collections.Counter()

    def add(self, status: int | str, seconds: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(seconds * 1000)

    def report(self, title: str, elapsed: float) -> dict:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else float("nan")

        result = {
            "model": title, "requests": len(lat), "seconds": round(elapsed, 2),
            "throughput_rps": round(len(lat) / elapsed, 1) if elapsed else 0,
            "p50_ms": round(pct(50), 1), "p95_ms": round(pct(95), 1), "p99_ms": round(pct(99), 1),
            "max_ms": round(lat[-1], 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
            "statuses": dict(sorted(self.statuses.items(), key=lambda kv: str(kv[0]))),
        }
        print(f"\n== {title}")
        print(f"   requests {result['requests']} in {result['seconds']} s -> {result['throughput_rps']} req/s")
        print(f"   ack latency ms: p50 {result['p50_ms']}  p95 {result['p95_ms']}  p99 {result['p99_ms']}  "
              f"max {result['max_ms']}  mean {result['mean_ms']}")
        print(f"   status histogram: {result['statuses']}")
        return result


async def _send(session, url: str, key: str, n: int) -> int | str:
    headers = {"Content-Type": "application/json", "X-API-Key": key, "Idempotency-Key": f"bench-{uuid.uuid4()}"}
    try:
        async with session.post(f"{url}/api/v1/webhook", data=body(n), headers=headers) as response:
            await response.read()
            return response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        return type(exc).__name__


async def open_model(url: str, key: str, rate: float, duration: float) -> dict:
    recorder = Recorder()
    total = int(rate * duration)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        start = time.perf_counter()

        async def one(n: int) -> None:
            scheduled = start + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await _send(session, url, key, n)
            recorder.add(status, time.perf_counter() - scheduled)

        await asyncio.gather(*(one(n) for n in range(total)))
        elapsed = time.perf_counter() - start
    return recorder.report(f"open model: {rate:g} req/s for {duration:g} s", elapsed)


async def closed_model(url: str, key: str, concurrency: int, duration: float, *, count: int | None = None,
                       quiet: bool = False) -> dict:
    """`concurrency` clients for `duration` seconds, or until `count` requests were sent."""
    recorder = Recorder()
    counter = iter(range(10**9) if count is None else range(10**6, 10**6 + count))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        start = time.perf_counter()
        stop_at = start + duration

        async def client() -> None:
            for n in counter:
                if count is None and time.perf_counter() >= stop_at:
                    return
                sent = time.perf_counter()
                status = await _send(session, url, key, n)
                recorder.add(status, time.perf_counter() - sent)

        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if quiet:
        return {}
    return recorder.report(f"closed model: {concurrency} concurrent clients for {duration:g} s", elapsed)


def start_stack(workers: int, *, with_workers: bool = False, backlog: int = 0):
    stack = Stack({**os.environ, "DJANGO_SETTINGS_MODULE": "autoflow.settings", "WEBHOOK_API_KEY": KEY,
                   "WEBHOOK_RATE_LIMIT": "1000000/m", "READ_RATE_LIMIT": "1000000/m", "LOG_LEVEL": "WARNING", "OLLAMA_BASE_URL": "http://127.0.0.1:9",
                   "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}).start()
    fake = None

    def stop():
        try:
            stack.stop_processes()
            if fake is not None:
                fake.stop()
        finally:
            stack.stop()

    try:
        if with_workers:
            fake = FakeOllamaProcess(stack.base, mode="ok")
            fake.start()
            os.setpriority(os.PRIO_PROCESS, fake.proc.pid, 10)
            stack.env.update(OLLAMA_BASE_URL=fake.url, LLM_BACKEND="ollama")
        web = stack.start_web(http_workers=workers, quiet=True)
        if with_workers:
            stack.manage("load_demo_data", quiet=True)
            asyncio.run(closed_model(web.url, KEY, 32, 0, count=backlog, quiet=True))
            stack.start_worker(quiet=True)
            _wait_busy(stack.env["DATABASE_URL"])
    except BaseException:
        stop()
        raise

    def finished() -> int:
        return stack.sql("SELECT count(*) FROM inquiries_run WHERE status <> 'running'")[0][0]

    return web.url, stop, finished


def _wait_busy(pg_url: str, timeout: float = 120) -> None:
    """Until the workers are draining: runs finishing, and runs in flight."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(pg_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            done, flying = conn.execute("SELECT count(*) FILTER (WHERE status <> 'running'), count(*) FILTER "
                                        "(WHERE status = 'running' AND lease_owner <> '') FROM inquiries_run").fetchone()
            if done >= 50 and flying:
                return
            time.sleep(0.2)
    raise RuntimeError("the workers did not start draining the backlog")


async def warm_up(url: str, key: str) -> None:
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(_send(session, url, key, -n) for n in range(200)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running AutoFlow; default: start a throw-away stack")
    parser.add_argument("--key", default=os.environ.get("WEBHOOK_API_KEY", KEY))
    parser.add_argument("--model", choices=["open", "closed", "both"], default="both")
    parser.add_argument("--rate", type=float, default=100, help="open model: requests per second")
    parser.add_argument("--concurrency", type=int, default=32, help="closed model: concurrent clients")
    parser.add_argument("--duration", type=float, default=30, help="seconds per model")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "4")),
                        help="gunicorn workers of the throw-away stack")
    parser.add_argument("--with-workers", action="store_true",
                        help="measure while the worker cluster drains a backlog on the same machine")
    parser.add_argument("--backlog", type=int, default=4000, help="with --with-workers: inquiries queued first")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    if args.url:
        url, stop, finished = args.url.rstrip("/"), lambda: None, None
    else:
        url, stop, finished = start_stack(args.workers, with_workers=args.with_workers, backlog=args.backlog)
    results = []
    try:
        print(f"target {url}, {os.cpu_count()} CPUs, gunicorn workers {args.workers if not args.url else '?'}"
              + (f", worker cluster draining a backlog of {args.backlog}" if args.with_workers else ""))
        asyncio.run(warm_up(url, args.key))
        for model in ("open", "closed"):
            if args.model not in (model, "both"):
                continue
            done_before, began = finished() if finished else 0, time.perf_counter()
            if model == "open":
                results.append(asyncio.run(open_model(url, args.key, args.rate, args.duration)))
            else:
                results.append(asyncio.run(closed_model(url, args.key, args.concurrency, args.duration)))
            if args.with_workers:
                drained = finished() - done_before
                results[-1]["runs_finished_meanwhile"] = drained
                print(f"   meanwhile the workers finished {drained} runs "
                      f"({drained / (time.perf_counter() - began):.1f}/s)")
    finally:
        stop()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
