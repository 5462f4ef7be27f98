"""The figures a support manager is asked for (docs/api.md, "Reports"), computed in PostgreSQL.

Every figure but the operator actions is of the runs *received* in the range (their `created_at`),
bucketed per day, week (ISO, from Monday) or month in UTC, and broken down by intent, confidence
band and language:
- automation: finished runs completed without a human (status completed, never escalated);
- escalation: finished runs escalated, and the rules that fired (Run.escalation_reasons);
- first response: the first reply e-mail sent (the automatic reply or the operator's) minus the
  run's `created_at`;
- resolution: an escalation's `resolved_at` minus its `created_at`;
- fallbacks: runs that fell back to the built-in engine (a fallback event or step), and the events.
Operator actions (assigned, draft edited, reply sent by a user, resolved, replayed, note) are
counted when they happened, on the runs that match the filters.

The work is bounded: a range is required (the last 30 days by default) and cut to MAX_DAYS;
the queries read the runs of that range through the `created_at` indexes."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from .errors import InvalidRequest
from .models import ConfidenceBand, Intent, RunEventType

PERIODS = ("day", "week", "month")
DEFAULT_DAYS = 30
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
OPERATOR_ACTIONS = (RunEventType.ASSIGNED, RunEventType.DRAFT_EDITED, RunEventType.REPLY_SENT,
                    RunEventType.RESOLVED, RunEventType.REPLAYED, RunEventType.NOTE)
DIMENSIONS = ("intent", "band", "language")


@dataclass(frozen=True)
class ReportQuery:
    """What a report covers: `since` and `until` are dates (UTC), both included."""

    period: str
    since: date
    until: date
    intent: str = ""
    band: str = ""
    language: str = ""

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until, time.min, tzinfo=UTC) + timedelta(days=1)


def report_query(*, period: str = "day", since: date | None = None, until: date | None = None, intent: str = "",
                 band: str = "", language: str = "") -> ReportQuery:
    """The checked query: InvalidRequest (422 in the API) for an unknown value. Any two dates make
    a range: taken in either order, kept within EARLIEST..LATEST, and a range longer than MAX_DAYS
    is cut to the MAX_DAYS that end at `until` (the report says which range it covers)."""
    if period not in PERIODS:
        raise InvalidRequest(f"period is one of {', '.join(PERIODS)}.")
    if intent and intent not in Intent.values:
        raise InvalidRequest("intent is not a known intent.")
    if band and band not in ConfidenceBand.values:
        raise InvalidRequest("band is high, medium or low.")
    if language and not (len(language) == 2 and language.isascii() and language.isalpha()):
        raise InvalidRequest("language is two letters (ISO 639-1).")
    since, until = (None if day is None else min(max(day, EARLIEST), LATEST) for day in (since, until))
    today = timezone.now().astimezone(UTC).date()
    until = until or (min(since + timedelta(days=DEFAULT_DAYS - 1), LATEST) if since else today)
    since = since or max(until - timedelta(days=DEFAULT_DAYS - 1), EARLIEST)
    since, until = min(since, until), max(since, until)
    since = max(since, until - timedelta(days=MAX_DAYS - 1))
    return ReportQuery(period, since, until, intent, band, language.lower())


def buckets(query: ReportQuery) -> list[date]:
    """The first day of every period the range touches, oldest first."""
    if query.period == "day":
        first, step = query.since, None
    elif query.period == "week":
        first, step = query.since - timedelta(days=query.since.weekday()), None
    else:
        first, step = query.since.replace(day=1), "month"
    days = [first]
    while True:
        last = days[-1]
        if step == "month":
            following = (last.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            following = last + timedelta(days=7 if query.period == "week" else 1)
        if following > query.until:
            return days
        days.append(following)


_FILTERS = ("(%(intent)s = '' OR run.intent = %(intent)s) AND (%(band)s = '' OR run.confidence_band = %(band)s) "
            "AND (%(language)s = '' OR run.language = %(language)s)")
_KEYS = ("date_trunc(%(period)s, {at} AT TIME ZONE 'UTC')::date AS bucket, "
         "COALESCE(NULLIF(run.intent, ''), 'unclassified') AS intent, "
         "COALESCE(NULLIF(run.confidence_band, ''), 'none') AS band, "
         "COALESCE(NULLIF(run.language, ''), 'unknown') AS language")
# One row per run of the range: its keys and its own figures.
_RUNS = f"""
WITH r AS (
  SELECT run.id, {_KEYS.format(at="run.created_at")},
    run.status <> 'running' AS finished,
    run.status = 'completed' AND NOT run.escalate AS automated,
    run.escalate AND run.status <> 'running' AS escalated,
    run.escalate AND run.status <> 'running' AND run.resolved_at IS NULL AS open_escalation,
    CASE WHEN jsonb_typeof(run.escalation_reasons) = 'array' THEN run.escalation_reasons ELSE '[]' END AS reasons,
    extract(epoch FROM reply.sent_at - run.created_at) AS first_response,
    reply.automatic AS automatic_reply,
    CASE WHEN run.escalate AND run.resolved_at IS NOT NULL
         THEN extract(epoch FROM run.resolved_at - run.created_at) END AS resolution,
    (SELECT count(*) FROM inquiries_runevent f WHERE f.run_id = run.id AND f.type = 'fallback') AS fallback_events,
    EXISTS (SELECT 1 FROM inquiries_runstep s WHERE s.run_id = run.id AND s.outputs ? 'fallback') AS fallback_step
  FROM inquiries_run run
  LEFT JOIN LATERAL (SELECT o.sent_at, o.automatic FROM inquiries_outboundemail o
                     WHERE o.run_id = run.id AND o.status = 'sent' AND o.sent_at IS NOT NULL
                     ORDER BY o.sent_at LIMIT 1) reply ON true
  WHERE run.created_at >= %(start)s AND run.created_at < %(end)s AND {_FILTERS}
)"""
_GROUPS = "GROUPING(bucket), GROUPING(intent), GROUPING(band), GROUPING(language), bucket, intent, band, language"
_SETS = "GROUPING SETS ((bucket{extra}), (intent{extra}), (band{extra}), (language{extra}), ({tail}))"

_FIGURES_SQL = f"""{_RUNS}
SELECT {_GROUPS},
  count(*), count(*) FILTER (WHERE finished), count(*) FILTER (WHERE automated), count(*) FILTER (WHERE escalated),
  count(first_response), count(*) FILTER (WHERE automatic_reply), count(*) FILTER (WHERE NOT automatic_reply),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response),
  percentile_cont(0.9) WITHIN GROUP (ORDER BY first_response), avg(first_response),
  count(resolution), count(*) FILTER (WHERE open_escalation),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution),
  percentile_cont(0.9) WITHIN GROUP (ORDER BY resolution), avg(resolution),
  count(*) FILTER (WHERE fallback_events > 0 OR fallback_step), COALESCE(sum(fallback_events), 0)
FROM r GROUP BY {_SETS.format(extra="", tail="")}"""

_REASONS_SQL = f"""{_RUNS}
SELECT {_GROUPS}, reason.value ->> 'rule' AS rule, count(DISTINCT r.id)
FROM r CROSS JOIN LATERAL jsonb_array_elements(r.reasons) reason
WHERE r.escalated AND jsonb_typeof(reason.value) = 'object' AND reason.value ? 'rule'
GROUP BY {_SETS.format(extra=", rule", tail="rule")}"""

_ACTIONS_SQL = f"""
WITH r AS (
  SELECT ev.type, {_KEYS.format(at="ev.created_at")}
  FROM inquiries_runevent ev JOIN inquiries_run run ON run.id = ev.run_id
  WHERE ev.created_at >= %(start)s AND ev.created_at < %(end)s AND ev.type = ANY(%(actions)s)
    AND (ev.actor_id IS NOT NULL OR ev.actor_label LIKE 'user:%%')
    AND NOT (ev.type = 'resolved' AND ev.data ? 'joined_escalation') AND {_FILTERS}
)
SELECT {_GROUPS}, type, count(*) FROM r GROUP BY {_SETS.format(extra=", type", tail="type")}"""


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value) -> float | None:
    return None if value is None else round(float(value), 3)


def empty_figures() -> dict[str, Any]:
    return {
        "runs": 0, "finished": 0, "automated": 0, "automation_rate": None, "escalated": 0, "escalation_rate": None,
        "escalation_reasons": {},
        "first_response": {"responded": 0, "automatic": 0, "operator": 0, "p50_seconds": None, "p90_seconds": None,
                           "avg_seconds": None},
        "resolution": {"resolved": 0, "open": 0, "p50_seconds": None, "p90_seconds": None, "avg_seconds": None},
        "operator_actions": {**dict.fromkeys(OPERATOR_ACTIONS, 0), "total": 0},
        "fallbacks": {"runs": 0, "events": 0},
    }


def _figures(row) -> dict[str, Any]:
    (runs, finished, automated, escalated, responded, automatic, operator, fr50, fr90, fravg,
     resolved, still_open, rs50, rs90, rsavg, fallback_runs, fallback_events) = row
    figures = empty_figures()
    figures.update({
        "runs": runs, "finished": finished, "automated": automated, "automation_rate": _rate(automated, finished),
        "escalated": escalated, "escalation_rate": _rate(escalated, finished),
        "first_response": {"responded": responded, "automatic": automatic, "operator": operator,
                           "p50_seconds": _seconds(fr50), "p90_seconds": _seconds(fr90), "avg_seconds": _seconds(fravg)},
        "resolution": {"resolved": resolved, "open": still_open, "p50_seconds": _seconds(rs50),
                       "p90_seconds": _seconds(rs90), "avg_seconds": _seconds(rsavg)},
        "fallbacks": {"runs": fallback_runs, "events": int(fallback_events)},
    })
    return figures


def _where(row) -> tuple[str, Any]:
    """Which grouping set a row belongs to: ("bucket", day) … or ("total", None)."""
    g_bucket, g_intent, g_band, g_language, bucket, intent, band, language = row[:8]
    for grouped_out, name, value in ((g_bucket, "bucket", bucket), (g_intent, "intent", intent),
                                     (g_band, "band", band), (g_language, "language", language)):
        if not grouped_out:
            return name, value
    return "total", None


def report(query: ReportQuery) -> dict[str, Any]:
    """The report: `totals`, a `series` entry per period, and `by_intent`, `by_band`, `by_language`
    (most runs first), each with the same figures."""
    params = {"period": query.period, "start": query.start, "end": query.end, "intent": query.intent,
              "band": query.band, "language": query.language, "actions": [str(a) for a in OPERATOR_ACTIONS]}
    groups: dict[str, dict[Any, dict[str, Any]]] = {name: {} for name in ("bucket", *DIMENSIONS, "total")}
    groups["bucket"] = {day: empty_figures() for day in buckets(query)}
    groups["total"][None] = empty_figures()
    with connection.cursor() as cursor:
        cursor.execute(_FIGURES_SQL, params)
        for row in cursor.fetchall():
            name, key = _where(row)
            groups[name][key] = _figures(row[8:])
        cursor.execute(_REASONS_SQL, params)
        for row in cursor.fetchall():
            name, key = _where(row)
            reasons = groups[name].setdefault(key, empty_figures())["escalation_reasons"]
            reasons[row[8]] = row[9]
        cursor.execute(_ACTIONS_SQL, params)
        for row in cursor.fetchall():
            name, key = _where(row)
            actions = groups[name].setdefault(key, empty_figures())["operator_actions"]
            actions[row[8]] = row[9]
            actions["total"] += row[9]
    for figures in (f for group in groups.values() for f in group.values()):
        figures["escalation_reasons"] = dict(sorted(figures["escalation_reasons"].items(), key=lambda kv: (-kv[1], kv[0])))

    def ranked(name: str) -> list[dict[str, Any]]:
        rows = sorted(groups[name].items(), key=lambda kv: (-kv[1]["runs"], str(kv[0])))
        return [{"key": key, **figures} for key, figures in rows]

    return {
        "period": query.period, "since": query.since, "until": query.until,
        "filters": {"intent": query.intent, "band": query.band, "language": query.language},
        "totals": groups["total"][None],
        "series": [{"start": day, **figures} for day, figures in sorted(groups["bucket"].items())],
        "by_intent": ranked("intent"), "by_band": ranked("band"), "by_language": ranked("language"),
    }
