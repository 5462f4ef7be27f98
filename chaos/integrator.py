"""The chaos suite's traffic: an integrator that signs and retries as the contract asks and keeps
its own log of every attempt, a steady stream of its inquiries, and a /health probe."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from chaos.config import RETRYABLE, SECRET
from testutils.inquiries import sample_inquiry


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
    """A sample inquiry (as bench/ sends), from one of 97 senders (so contacts have earlier inquiries)."""
    return {**sample_inquiry(n), "sender_name": f"Chaos {n}", "sender_email": f"chaos{n % 97}@example.com"}


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
