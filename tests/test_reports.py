"""Reports (inquiries/reports.py, GET /api/v1/stats, /console/reports/, the history's CSV export)
against a seeded data set with known answers: runs with fixed timestamps, statuses, escalation
reasons, e-mails, operator events, fallbacks, bands and languages."""

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest
from django.http import StreamingHttpResponse

from inquiries import reports
from inquiries.errors import InvalidRequest
from inquiries.models import OutboundEmail, RunEvent
from inquiries.services import api_client_create
from testutils.csp import assert_own_origin_only
from testutils.factories import make_inquiry, make_run, make_step

pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def email(run, *, sent_at, automatic: bool, user=None) -> None:
    OutboundEmail.objects.create(run=run, to=run.inquiry.sender_email, subject="Re", body="Hello", status="sent",
                                 sent_at=sent_at, automatic=automatic, approved_by=user, created_at=sent_at)


def event(run, type_, when, *, user=None, label="", **data) -> None:
    RunEvent.objects.create(run=run, type=type_, created_at=when, actor=user, data=data,
                            actor_label=label or (f"user:{user.get_username()}" if user else "system"))


@pytest.fixture
def seeded(operator):
    """Week of 2 Nov: A, B (automated), C (escalated, resolved); week of 9 Nov: D (escalated,
    open), E (error), F (running); G on 20 Nov is outside the range asked."""
    runs = {}
    runs["A"] = make_run(created_at=at(2, 10), finished_at=at(2, 10, 0, 20), status="completed", intent="faq",
                         confidence_band="high", language="en")
    email(runs["A"], sent_at=at(2, 10, 0, 30), automatic=True)
    event(runs["A"], "reply_sent", at(2, 10, 0, 30))  # the workflow's: no operator action
    runs["B"] = make_run(created_at=at(2, 12), finished_at=at(2, 12, 1), status="completed", intent="faq",
                         confidence_band="high", language="de")
    email(runs["B"], sent_at=at(2, 12, 1, 30), automatic=True)
    event(runs["B"], "fallback", at(2, 12, 0, 10), node="classify_intent")
    runs["C"] = make_run(
        inquiry=make_inquiry(subject="=HYPERLINK(\"http://evil.example\")", sender_name="+cmd|' /C calc'!A0"),
        created_at=at(3, 9), finished_at=at(3, 9, 1), status="escalated", intent="support", confidence_band="low",
        language="en", escalation_reasons=[{"rule": "low_confidence", "detail": "0.3"},
                                           {"rule": "high_severity", "detail": "high"}],
        escalation_reason="low_confidence: 0.3; high_severity: high", resolved_at=at(3, 11), resolved_by=operator)
    event(runs["C"], "assigned", at(3, 9, 30), user=operator)
    event(runs["C"], "draft_edited", at(3, 9, 40), user=operator)
    email(runs["C"], sent_at=at(3, 10), automatic=False, user=operator)
    event(runs["C"], "reply_sent", at(3, 10), user=operator)
    event(runs["C"], "resolved", at(3, 11), user=operator)
    runs["D"] = make_run(created_at=at(9, 8), finished_at=at(9, 8, 1), status="escalated", intent="pricing",
                         confidence_band="medium", language="en",
                         escalation_reasons=[{"rule": "low_confidence", "detail": "0.5"}])
    make_step(run=runs["D"], sequence=1, started_at=at(9, 8), finished_at=at(9, 8, 0, 1),
              outputs={"fallback": "llm_unavailable"})
    event(runs["D"], "assigned", at(9, 9), user=operator)
    event(runs["D"], "note", at(9, 9, 5), user=operator)
    runs["E"] = make_run(created_at=at(10, 14), finished_at=at(10, 14, 1), status="error")
    runs["F"] = make_run(created_at=at(11, 15), status="running")
    runs["G"] = make_run(created_at=at(20, 10), finished_at=at(20, 10, 1), status="completed", intent="faq")
    event(runs["G"], "assigned", at(20, 11), user=operator)
    return runs


def query(**kwargs):
    return reports.report_query(since=date(2026, 11, 2), until=date(2026, 11, 15), **kwargs)


TOTALS = {
    "runs": 6, "finished": 5, "automated": 2, "automation_rate": 0.4, "escalated": 2, "escalation_rate": 0.4,
    "escalation_reasons": {"low_confidence": 2, "high_severity": 1},
    "first_response": {"responded": 3, "automatic": 2, "operator": 1, "p50_seconds": 90.0, "p90_seconds": 2898.0,
                       "avg_seconds": 1240.0},
    "resolution": {"resolved": 1, "open": 1, "p50_seconds": 7200.0, "p90_seconds": 7200.0, "avg_seconds": 7200.0},
    "operator_actions": {"assigned": 2, "draft_edited": 1, "reply_sent": 1, "resolved": 1, "replayed": 0, "note": 1,
                         "total": 6},
    "fallbacks": {"runs": 2, "events": 1},
}


def test_totals_have_the_known_answers(seeded):
    result = reports.report(query())
    assert result["totals"] == TOTALS
    assert (result["since"], result["until"], result["period"]) == (date(2026, 11, 2), date(2026, 11, 15), "day")


def test_per_day(seeded):
    series = reports.report(query(period="day"))["series"]
    assert [s["start"] for s in series] == [date(2026, 11, d) for d in range(2, 16)]
    first, second = series[0], series[1]
    assert (first["runs"], first["automated"], first["automation_rate"], first["escalation_rate"]) == (2, 2, 1.0, 0.0)
    assert first["first_response"] == {"responded": 2, "automatic": 2, "operator": 0, "p50_seconds": 60.0,
                                       "p90_seconds": 84.0, "avg_seconds": 60.0}
    assert first["fallbacks"] == {"runs": 1, "events": 1}
    assert second["escalation_reasons"] == {"high_severity": 1, "low_confidence": 1}
    assert second["operator_actions"]["total"] == 4
    assert second["resolution"]["p50_seconds"] == 7200.0
    assert series[3]["runs"] == 0
    assert series[3]["automation_rate"] is None
    assert sum(s["runs"] for s in series) == 6


def test_per_week(seeded):
    first, second = reports.report(query(period="week"))["series"]
    assert (first["start"], first["runs"], first["finished"], first["automated"]) == (date(2026, 11, 2), 3, 3, 2)
    assert (first["automation_rate"], first["escalation_rate"]) == (0.6667, 0.3333)
    assert first["operator_actions"] == {"assigned": 1, "draft_edited": 1, "reply_sent": 1, "resolved": 1,
                                         "replayed": 0, "note": 0, "total": 4}
    assert (second["start"], second["runs"], second["finished"], second["automated"]) == (date(2026, 11, 9), 3, 2, 0)
    assert (second["automation_rate"], second["escalation_rate"]) == (0.0, 0.5)
    assert second["escalation_reasons"] == {"low_confidence": 1}
    assert second["resolution"] == {"resolved": 0, "open": 1, "p50_seconds": None, "p90_seconds": None,
                                    "avg_seconds": None}
    assert second["fallbacks"] == {"runs": 1, "events": 0}
    assert second["operator_actions"]["total"] == 2


def test_per_month_is_the_whole_range(seeded):
    [month] = reports.report(query(period="month"))["series"]
    assert month.pop("start") == date(2026, 11, 1)
    assert month == TOTALS


def test_breakdowns(seeded):
    result = reports.report(query())
    by_intent = {row["key"]: row for row in result["by_intent"]}
    assert [row["key"] for row in result["by_intent"]] == ["faq", "unclassified", "pricing", "support"]
    assert (by_intent["faq"]["runs"], by_intent["faq"]["automation_rate"]) == (2, 1.0)
    assert by_intent["support"]["operator_actions"]["total"] == 4
    assert by_intent["support"]["resolution"]["p50_seconds"] == 7200.0
    assert by_intent["unclassified"]["finished"] == 1
    assert by_intent["unclassified"]["runs"] == 2
    assert [(row["key"], row["runs"]) for row in result["by_band"]] == [("high", 2), ("none", 2), ("low", 1),
                                                                         ("medium", 1)]
    by_band = {row["key"]: row for row in result["by_band"]}
    assert by_band["low"]["escalation_reasons"] == {"high_severity": 1, "low_confidence": 1}
    assert by_band["medium"]["fallbacks"] == {"runs": 1, "events": 0}
    assert [(row["key"], row["runs"]) for row in result["by_language"]] == [("en", 3), ("unknown", 2), ("de", 1)]
    en = result["by_language"][0]
    assert (en["automated"], en["escalated"], en["escalation_rate"]) == (1, 2, 0.6667)
    assert en["first_response"]["p50_seconds"] == 1815.0


def test_a_resolve_counts_once_however_many_runs_joined_the_escalation(seeded, operator):
    joined = make_run(created_at=at(3, 9, 5), finished_at=at(3, 9, 6), status="escalated", intent="support",
                      joined_escalation=seeded["C"], resolved_at=at(3, 11), resolved_by=operator)
    event(joined, "resolved", at(3, 11), user=operator, joined_escalation=str(seeded["C"].pk))
    actions = reports.report(query())["totals"]["operator_actions"]
    assert (actions["resolved"], actions["total"]) == (1, 6)


def test_filters_narrow_every_figure(seeded):
    faq = reports.report(query(intent="faq"))
    assert faq["totals"]["runs"] == 2
    assert faq["totals"]["operator_actions"]["total"] == 0
    assert [row["key"] for row in faq["by_intent"]] == ["faq"]
    english = reports.report(query(language="en", band="low"))["totals"]
    assert (english["runs"], english["escalated"], english["operator_actions"]["total"]) == (1, 1, 4)


def test_the_range_is_required_and_bounded(seeded):
    default = reports.report_query()
    assert (default.until - default.since).days == reports.DEFAULT_DAYS - 1
    capped = reports.report_query(since=date(2020, 1, 1), until=date(2026, 11, 30))
    assert (capped.since, capped.until) == (date(2025, 11, 30), date(2026, 11, 30))  # the 366 days up to until
    swapped = reports.report_query(since=date(2026, 11, 15), until=date(2026, 11, 2))
    assert (swapped.since, swapped.until) == (date(2026, 11, 2), date(2026, 11, 15))
    assert reports.report_query(since=date(1, 1, 1), until=date(1, 1, 1)).since == reports.EARLIEST
    assert reports.report_query(since=date(9999, 12, 31)).until == reports.LATEST
    assert reports.report_query(until=date(2000, 1, 5)).since == reports.EARLIEST
    for bad in ({"period": "year"}, {"band": "huge"}, {"language": "english"}, {"intent": "nonsense"}):
        with pytest.raises(InvalidRequest):
            reports.report_query(**bad)
    assert len(reports.report(capped)["series"]) == 366
    assert len(reports.report(reports.report_query(period="week", since=date(2020, 1, 1), until=date(2026, 11, 30)))[
        "series"]) == 54


# --- GET /api/v1/stats ----------------------------------------------------------------------------

def test_stats_need_read_all(client, keys, seeded):
    _, intake = api_client_create(name="form", scopes=["intake"])
    _, own = api_client_create(name="crm", scopes=["intake", "read_own"])
    _, everything = api_client_create(name="bi", scopes=["read_all"])
    url = "/api/v1/stats?since=2026-11-02&until=2026-11-15&period=week"
    assert client.get(url).status_code == 401
    for key in (intake, own):
        refused = client.get(url, headers={"X-API-Key": key})
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
    answer = client.get(url, headers={"X-API-Key": everything})
    assert answer.status_code == 200
    body = answer.json()
    assert body["totals"]["automation_rate"] == 0.4
    assert [s["start"] for s in body["series"]] == ["2026-11-02", "2026-11-09"]
    assert body["filters"] == {"intent": "", "band": "", "language": ""}
    too_long = client.get("/api/v1/stats?since=2020-01-01&until=2026-01-01", headers={"X-API-Key": everything})
    assert (too_long.json()["since"], too_long.json()["until"]) == ("2025-01-01", "2026-01-01")
    bad = client.get("/api/v1/stats?period=year", headers={"X-API-Key": everything})
    assert bad.status_code == 422
    assert bad.json()["error"] == "validation_error"


def test_stats_for_staff_sessions(admin_client, keys, seeded):
    answer = admin_client.get("/api/v1/stats?since=2026-11-02&until=2026-11-15&intent=faq")
    assert answer.status_code == 200
    assert answer.json()["totals"]["runs"] == 2


def test_stats_are_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").json()
    assert "get" in document["paths"]["/api/v1/stats"]
    assert "StatsOut" in document["components"]["schemas"]


# --- The history's CSV export ---------------------------------------------------------------------

def _csv(response) -> list[dict[str, str]]:
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="autoflow-runs-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_streams_every_run_with_its_outcome(auditor_client, seeded):
    rows = _csv(auditor_client.get("/console/runs/export.csv"))
    assert [row["run_id"] for row in rows] == [str(seeded[k].pk) for k in "GFEDCBA"]  # newest first
    c = next(row for row in rows if row["run_id"] == str(seeded["C"].pk))
    assert c["status"] == "escalated"
    assert c["escalation_rules"] == "low_confidence;high_severity"
    assert c["first_response_at"] == "2026-11-03T10:00:00.000000Z"
    assert c["first_response_automatic"] == "False"
    assert c["resolved_at"] == "2026-11-03T11:00:00.000000Z"
    assert (c["confidence_band"], c["language"], c["intent"]) == ("low", "en", "support")
    fallbacks = {k for k in "ABCDEFG" if next(r for r in rows if r["run_id"] == str(seeded[k].pk))["fallback"] == "True"}
    assert fallbacks == {"B", "D"}


def test_csv_is_read_through_a_server_side_cursor(auditor_client, seeded):
    from django.db import connection

    lines = iter(auditor_client.get("/console/runs/export.csv").streaming_content)
    assert next(lines).startswith(b"run_id,created_at,")
    next(lines)  # the first run: the query is open, its rows come in chunks
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE '_django_curs_%'")
        assert cursor.fetchone()[0] == 1
    assert len(list(lines)) == 6


def test_csv_respects_the_history_filters(auditor_client, seeded):
    rows = _csv(auditor_client.get("/console/runs/export.csv", {"escalated": "yes", "language": "en"}))
    assert [row["run_id"] for row in rows] == [str(seeded["D"].pk), str(seeded["C"].pk)]
    rows = _csv(auditor_client.get("/console/runs/export.csv", {"since": "2026-11-09", "until": "2026-11-10",
                                                                "status": "error"}))
    assert [row["run_id"] for row in rows] == [str(seeded["E"].pk)]
    history = auditor_client.get("/console/runs/", {"intent": "faq"}).content.decode()
    assert 'href="/console/runs/export.csv?intent=faq"' in history


def test_csv_neutralises_formulas(auditor_client, seeded):
    [c] = _csv(auditor_client.get("/console/runs/export.csv", {"intent": "support"}))
    assert c["subject"] == "'=HYPERLINK(\"http://evil.example\")"
    assert c["sender_name"] == "'+cmd|' /C calc'!A0"


def test_csv_is_for_the_console_only(client, seeded):
    assert client.get("/console/runs/export.csv").status_code == 302


# --- The console page -----------------------------------------------------------------------------

def test_reports_page_renders_under_the_policy(operator_client, seeded):
    response = operator_client.get("/console/reports/", {"since": "2026-11-02", "until": "2026-11-15",
                                                         "period": "week"})
    assert response.status_code == 200
    assert_own_origin_only(response)
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=", html)  # nothing inline
    assert "Automation rate: <strong>40.0%</strong>" in html
    assert "Escalation rate: <strong>40.0%</strong>" in html
    assert "median / 90th percentile: <strong>90 s / 48.3 min</strong>" in html
    assert "<code>low_confidence</code></th><td>2</td>" in html
    assert html.count('<svg class="chart"') == 4
    assert "2026-11-09" in html
    assert 'href="/console/reports/"' in html  # the nav link


def test_reports_page_defaults_and_caps_the_range(auditor_client, seeded):
    default = auditor_client.get("/console/reports/").content.decode()
    assert "Runs received" in default
    long = auditor_client.get("/console/reports/", {"since": "2020-01-01", "until": "2026-01-01"}).content.decode()
    assert "Runs received 2025-01-01 to 2026-01-01" in long
    bad = auditor_client.get("/console/reports/", {"period": "year"}).content.decode()
    assert "Select a valid choice" in bad
    assert "Runs received" not in bad
