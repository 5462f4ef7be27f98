"""The product as processes for the chaos suite: a LiveStack (testutils/live.py, on
scripts/stack.py) with the fake Ollama and worker clusters that faults kill and start again."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from chaos.config import SECRET, Config
from testutils.fake_ollama import FakeOllamaProcess
from testutils.live import LiveStack, kill_worker, start_worker


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
            self.stack.manage("load_demo_data", quiet=True)
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

    def lease_owners(self) -> set[str]:
        """The workers holding a lease on a run now."""
        return {row[0] for row in self.stack.sql("SELECT DISTINCT lease_owner FROM inquiries_run "
                                                 "WHERE status = 'running' AND lease_expires_at > now()")}

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
