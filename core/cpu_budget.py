"""A cooperative CPU budget for one piece of work (a workflow node).

Pure-Python work cannot be interrupted safely from outside, so the work checks its budget between
its own steps: `check()` raises `CPUBudgetExceeded` once the current thread has spent more CPU time
(time.thread_time) than the budget since `limit()` began. Waiting (network, database, locks) costs
no CPU time and does not count; neither does a one-off cost the work runs under `excluded()`
(training the classifier on first use). Outside `limit()`, `check()` does nothing.
"""

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


class CPUBudgetExceeded(Exception):
    def __init__(self, where: str, spent: float, seconds: float):
        super().__init__(f"{where} went over the CPU budget ({spent:.2f} s of {seconds:.2f} s)")
        self.where, self.spent, self.seconds = where, spent, seconds


@dataclass
class _Budget:
    seconds: float
    started: float
    excluded: float = 0.0

    def spent(self) -> float:
        return time.thread_time() - self.started - self.excluded


_current: ContextVar[_Budget | None] = ContextVar("cpu_budget", default=None)


@contextlib.contextmanager
def limit(seconds: float) -> Iterator[None]:
    token = _current.set(_Budget(seconds=seconds, started=time.thread_time()))
    try:
        yield
    finally:
        _current.reset(token)


def check(where: str) -> None:
    budget = _current.get()
    if budget is not None and (spent := budget.spent()) > budget.seconds:
        raise CPUBudgetExceeded(where, spent, budget.seconds)


@contextlib.contextmanager
def excluded() -> Iterator[None]:
    budget = _current.get()
    started = time.thread_time()
    try:
        yield
    finally:
        if budget is not None:
            budget.excluded += time.thread_time() - started
