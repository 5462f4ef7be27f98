"""The chaos suite's invariants, checked after each fault from PostgreSQL and the integrator's log,
and its report."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from chaos.config import RETRYABLE, TERMINAL
from chaos.faults import Context
from chaos.integrator import Attempt, HealthProbe
from chaos.product import Product


@dataclass
class Row:
    fault: str
    sent: int = 0
    accepted: int = 0
    retryable: int = 0
    refused: int = 0
    lost: int = 0
    stuck: int = 0
    dup: int = 0
    audit: int = 0
    health: int = 0
    terminal_s: float = 0.0
    outcomes: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    slowest: str = ""  # the event log of the fault's slowest run, seconds after its webhook

    @property
    def ok(self) -> bool:
        return not (self.lost or self.stuck or self.dup or self.audit or self.health) and all(
            ok for _, ok in self.checks)


RUN_FACTS = """
SELECT r.id::text, r.status, r.attempts, r.started_at IS NOT NULL,
       extract(epoch FROM coalesce(r.finished_at, now()) - r.created_at),
       (SELECT count(*) FROM inquiries_runstep s WHERE s.run_id = r.id),
       (SELECT count(DISTINCT s.node) FROM inquiries_runstep s WHERE s.run_id = r.id),
       (SELECT count(*) FROM inquiries_outboundemail e WHERE e.run_id = r.id AND e.kind = 'reply'),
       coalesce((SELECT array_agg(v.type) FROM inquiries_runevent v WHERE v.run_id = r.id), '{}'),
       (SELECT string_agg(e.reason->>'rule', '+' ORDER BY e.n)
        FROM jsonb_array_elements(r.escalation_reasons) WITH ORDINALITY AS e(reason, n)), r.error_code
FROM inquiries_run r WHERE r.id = ANY(%s::uuid[])
"""
TERMINAL_EVENT = {"completed": "completed", "escalated": "escalated", "error": "failed"}


def _wait_terminal(product: Product, run_ids: list[str], deadline: float) -> None:
    while time.monotonic() < deadline:
        left = product.stack.sql("SELECT count(*) FROM inquiries_run WHERE id = ANY(%s::uuid[]) "
                                 "AND status = 'running'", [run_ids])[0][0]
        if left == 0:
            return
        time.sleep(1)


def check(fault: str, ctx: Context, probe: HealthProbe, outage: tuple[float, float]) -> Row:
    attempts = ctx.integrator.attempts(fault)
    row = Row(fault, sent=len(attempts))
    answered: dict[str, set[str]] = {}
    for attempt in attempts:
        if attempt.status == 200:
            answered.setdefault(attempt.key, set()).add(attempt.run_id)
        elif attempt.status is None or attempt.status in RETRYABLE:
            row.retryable += 1
        else:
            row.refused += 1
    row.accepted = len(answered)
    duplicated_keys = [key for key, ids in answered.items() if len(ids) > 1]
    run_ids = sorted({run_id for ids in answered.values() for run_id in ids} | ctx.hit)

    _wait_terminal(ctx.product, run_ids, time.monotonic() + ctx.config.terminal_bound)
    facts = {r[0]: r for r in ctx.product.stack.sql(RUN_FACTS, [run_ids])} if run_ids else {}
    row.lost = len(set(run_ids) - set(facts))
    outcomes: Counter = Counter()
    for run_id, status, attempts_made, started, seconds, steps, nodes, emails, events, rules, _ in facts.values():
        outcomes[f"{status}({rules})" if rules else status] += 1
        if status not in TERMINAL:
            row.stuck += 1
            row.problems.append(f"stuck {run_id} after {seconds:.0f}s")
            continue
        row.terminal_s = max(row.terminal_s, round(float(seconds), 1))
        if steps != nodes or emails > 1 or attempts_made > ctx.config.max_attempts:
            row.dup += 1
            row.problems.append(f"duplicate effects in {run_id}: {steps} steps, {nodes} nodes, {emails} e-mails, "
                                f"{attempts_made} attempts")
        seen = Counter(events)
        wanted = {"received", "queued", TERMINAL_EVENT[status]} | ({"started"} if started else set())
        if not wanted <= set(seen) or seen["step"] != steps:
            row.audit += 1
            row.problems.append(f"audit gap in {run_id}: wanted {sorted(wanted)} and {steps} step events, "
                                f"has {dict(seen)}")
    terminal = [(float(f[4]), run_id) for run_id, f in facts.items() if f[1] in TERMINAL]
    if terminal:
        _, slowest = max(terminal)
        row.slowest = f"{slowest}: " + ", ".join(f"{kind} {offset:.0f}s" for kind, offset in ctx.product.stack.sql(
            "SELECT v.type, extract(epoch FROM v.created_at - r.created_at) FROM inquiries_runevent v "
            "JOIN inquiries_run r ON r.id = v.run_id WHERE v.run_id = %s ORDER BY v.id", [slowest]))
    row.dup += len(duplicated_keys)
    row.problems += [f"webhook-id {key} answered with {len(answered[key])} run ids" for key in duplicated_keys]
    row.outcomes = dict(outcomes)
    row.health = len(probe.failures(fault))
    if row.health:
        row.problems.append(f"/health not answered {row.health} times: {Counter(probe.failures(fault))}")
    row.checks = list(ctx.extra_checks) + expectations(fault, attempts, outage, facts, ctx.hit)
    row.checks += deadlines_kept(ctx, run_ids)
    return row


def deadlines_kept(ctx: Context, fault_runs: list[str]) -> list:
    """Each promise of the fault: its runs (all of the fault's when none are named) ended within
    the bound after the moment it counts from."""
    checks = []
    for label, named, since, limit in ctx.deadlines:
        ids = sorted(named or set(fault_runs))
        if not ids:
            continue
        ended = ctx.product.stack.sql(
            "SELECT max(extract(epoch FROM coalesce(finished_at, now())) - %s), count(*) FILTER "
            "(WHERE finished_at IS NULL) FROM inquiries_run WHERE id = ANY(%s::uuid[])", [since, ids])[0]
        slowest, open_runs = float(ended[0] or 0), ended[1]
        checks.append((f"{label}: {len(ids)} runs, the last {slowest:.1f} s after (at most {limit:.0f} s)",
                       open_runs == 0 and slowest <= limit))
    return checks


def expectations(fault: str, attempts: list[Attempt], outage: tuple[float, float], facts: dict,
                 hit: set[str]) -> list:
    """What each fault must show besides the invariants (the matrix of docs/reliability.md)."""
    began, ended = outage
    during = [a for a in attempts if a.sent_at >= began + 1 and a.answered_at <= ended]
    statuses = Counter(a.status for a in during)
    if fault == "redis_down":
        return [(f"intake answered 200 throughout the Redis outage ({dict(statuses)})",
                 bool(during) and set(statuses) == {200})]
    if fault == "postgres_down":
        honest = all(a.status == 503 and a.retry_after for a in during if a.status is not None)
        return [(f"503 + Retry-After (never 2xx) while PostgreSQL was down ({dict(statuses)})",
                 bool(during) and honest and statuses[503] > 0)]
    if fault in ("worker_kill", "crash_loop"):
        cut = [facts[run_id] for run_id in hit if run_id in facts]
        ended = Counter(f[1] if f[1] != "error" else f"error({f[10]})" for f in cut)
        most = max((f[2] for f in cut), default=0)
        return [(f"the {len(cut)} runs cut by a kill ended ({dict(ended)}), on at most {most} attempts",
                 bool(cut) and all(f[1] in TERMINAL and f[2] > 1 for f in cut))]
    if fault.startswith("ollama"):
        errors = sum(1 for f in facts.values() if f[1] == "error")
        return [(f"every run ended completed or escalated by the policy, none in error ({errors})", errors == 0)]
    return []
