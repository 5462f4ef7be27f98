"""Supervision: keep the parts of a running product up, each restarted alone with backoff
(`make run`, scripts/run.py; the web tier on its own, scripts/web.py)."""

from __future__ import annotations

import signal
import time

from scripts.common import ServiceError, log


class StopRequest:
    """Ctrl-C and SIGTERM as a flag, so that a supervisor stops its children itself, in order."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, signum, _frame) -> None:
        self.requested = True


FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STABLE_AFTER = 60.0  # seconds up after which a failure counts as the first again


def supervise(stop: StopRequest, parts: dict, *, tick=None) -> int:
    """Keep `parts` running until Ctrl-C or SIGTERM, then return 0.

    Each part (the web tier, the worker cluster) has `crashed()` (what failed, or None),
    `end_crashed()` (end what is left of it) and `restart()` (start it again, a description back;
    ServiceError when it cannot). A part that fails is restarted alone while the others keep
    running: 1 s after the failure, then 2, 4 … up to 30 s while it keeps failing, and 1 s again
    once it has stayed up a minute. `tick()` is called about every 0.2 s."""
    delays = dict.fromkeys(parts, FIRST_RESTART_DELAY)
    up_since = dict.fromkeys(parts, time.monotonic())
    due: dict[str, float] = {}  # parts waiting for their restart, and when

    def schedule(name: str, why: str) -> None:
        if time.monotonic() - up_since[name] >= STABLE_AFTER:
            delays[name] = FIRST_RESTART_DELAY
        due[name] = time.monotonic() + delays[name]
        log(f"{why}; restarting the {name} in {delays[name]:g} s, the rest keeps running")
        delays[name] = min(delays[name] * 2, MAX_RESTART_DELAY)

    while not stop.requested:
        for name, part in parts.items():
            if name not in due:
                failure = part.crashed()
                if failure:
                    part.end_crashed()
                    schedule(name, failure)
            elif time.monotonic() >= due[name]:
                try:
                    detail = part.restart()
                except ServiceError as exc:
                    schedule(name, f"the {name} did not restart: {exc}")
                    continue
                del due[name]
                up_since[name] = time.monotonic()
                log(f"the {name} restarted ({detail})")
        if tick:
            tick()
        time.sleep(0.2)
    return 0
