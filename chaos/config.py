"""What the chaos suite runs with: its settings and the product's environment (chaos/suite.py)."""

from __future__ import annotations

import base64
from dataclasses import dataclass

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
